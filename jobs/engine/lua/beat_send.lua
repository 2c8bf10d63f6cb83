--[[
  Send one run of a periodic task, unless it was sent already: the key of this (periodic task, due
  time) pair is set first, and the message is enqueued only if the key was new. Two beats that both
  believe they lead for a moment, or a beat that sent and died before it recorded the run, cannot
  send a run twice.

  KEYS[1] sent key of (periodic task, due time)   KEYS[2] idle   KEYS[3] leases   KEYS[4] inflight
  KEYS[5] revoked   KEYS[6] workers
  ARGV[1] how long the sent key is kept (ms)   ARGV[2] queue key prefix   ARGV[3] wake key prefix
  ARGV[4] idle list prefix   ARGV[5] inbox prefix   ARGV[6] queue   ARGV[7] score   ARGV[8] message

  Returns 1 if sent now, 0 if it had been sent before.
]]
--@include wake
--@include clock
--@include deliver

if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return 0
end
local d = { qp = ARGV[2], wp = ARGV[3], ip = ARGV[4], bp = ARGV[5], idle = KEYS[2], leases = KEYS[3],
            inflight = KEYS[4], revoked = KEYS[5], workers = KEYS[6] }
deliver(d, ARGV[6], ARGV[7], ARGV[8])
return 1
