--[[
  Ask one worker to stop as on SIGTERM (control.shutdown), from any host: its id goes into the
  shutdown SET, which its own maintain.lua reads within about a second; its supervisor then stops
  taking tasks, lets the running ones finish and leaves (broker.forget_worker takes the id out).
  A worker without a recent heartbeat is not asked: it would never read the request.

  KEYS[1] workers: heartbeats
  KEYS[2] shutdown: SET
  ARGV[1] worker_id
  ARGV[2] alive_ms: how old a heartbeat may be (ms) for its worker to count as alive

  Returns 1 if the request is there for a live worker (made now or before), else 0.
]]
--@include clock

local beat = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not beat or now_ms() - tonumber(beat) > tonumber(ARGV[2]) then
  return 0
end
redis.call('SADD', KEYS[2], ARGV[1])
return 1
