--[[
  Send one run of a periodic task, unless it (or a later run of the same periodic task) was sent
  already. One hash field per periodic task holds the due time of the last run sent; a run is
  enqueued only if it is due later, in the same atomic step that moves the field forward. Beat sends
  each task's runs oldest first, so two beats that both believe they lead for a moment, or a beat
  that sent and died before it recorded the run, cannot send a run twice, and the memory this costs
  is one field per periodic task, however often it runs.

  KEYS[1] sent: the sent HASH (periodic task id -> due time of the last run sent)
  KEYS[2] idle
  KEYS[3] leases
  KEYS[4] inflight
  KEYS[5] revoked
  KEYS[6] workers
  KEYS[7] expiries
  KEYS[8] queue_set: the queues SET (a run's queue is added to it: a few commands a periodic run)
  ARGV[1] periodic_id: the periodic task's id
  ARGV[2] due_ms: its due time (ms)
  ARGV[3] queue_prefix: queue key prefix
  ARGV[4] wake_prefix: wake key prefix
  ARGV[5] idle_prefix: idle list prefix
  ARGV[6] inbox_prefix
  ARGV[7] queue
  ARGV[8] score
  ARGV[9] wire: the message
  ARGV[10] expiry: its expiry ('+ms' from now, as lib/clock.lua at_ms reads it), or ''

  Returns 1 if sent now, 0 if it had been sent before.
]]
--@include wake
--@include clock
--@include wire
--@include deliver

local last = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
if last and last >= tonumber(ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[8], ARGV[7])
if ARGV[10] ~= '' then
  record_expiry(KEYS[7], wire_id(ARGV[9]) or '', ARGV[10], now_ms())
end
local d = { qp = ARGV[3], wp = ARGV[4], ip = ARGV[5], bp = ARGV[6], idle = KEYS[2], leases = KEYS[3],
            inflight = KEYS[4], revoked = KEYS[5], workers = KEYS[6] }
deliver(d, ARGV[7], ARGV[8], ARGV[9])
return 1
