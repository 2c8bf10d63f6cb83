--[[
  Hand deliveries back to their queues at once, rather than when their lease runs out: a warm
  shutdown returning what it did not finish, a supervisor returning what a dead child held. Only
  tokens still in flight are handed back (fencing): one already acknowledged, or already recovered
  by maintain.lua, is left alone, so nothing is queued twice.

  KEYS[1] leases   KEYS[2] inflight   KEYS[3] dead letters
  ARGV[1] queue key prefix   ARGV[2] wake key prefix   ARGV[3 ..] delivery tokens

  Returns the number handed back.
]]
--@include wake
--@include requeue
--@include clock

local count = 0
local now = now_ms()
for i = 3, #ARGV do
  local entry = redis.call('HGET', KEYS[2], ARGV[i])
  if entry then
    requeue_entry(entry, ARGV[1], ARGV[2], KEYS[3], now, true)
    redis.call('HDEL', KEYS[2], ARGV[i])
    count = count + 1
  end
  redis.call('ZREM', KEYS[1], ARGV[i])
end
return count
