--[[
  Concurrency limits, shared by every worker: may this delivery start now, within its slot's limit?
  If not, it goes back into the scheduled set for a short while, in the same step, so a task over its
  limit neither runs nor holds a worker process nor blocks the tasks behind it in its queue.

  A slot is held exactly as long as the delivery that took it holds its lease: the holders are
  delivery tokens, and one whose lease is gone (acknowledged, handed back, or taken away by
  maintain.lua once it ran out: its worker died) is pruned here, atomically, before counting. So
  nothing releases a slot, nothing renews it (the lease renewals do), and a worker killed mid-task
  frees its slot when maintain hands its lease back.

  Slots not taken for a while are swept a few at a time (each time a slot is taken): one whose
  holders have all lost their leases is deleted, so a key per customer does not stay forever.

  KEYS[1] leases
  KEYS[2] inflight
  KEYS[3] scheduled
  KEYS[4] holders: this slot's holders (ZSET token -> when it was taken, ms)
  KEYS[5] slots: every slot taken lately (ZSET slot name -> when last taken, ms)
  KEYS[6] limits: each slot's limit, for the console (HASH slot name -> limit)
  ARGV[1] token: delivery token
  ARGV[2] limit: the most holders at once
  ARGV[3] member: scheduled member "score|queue|wire" to defer it as
  ARGV[4] due: when it is offered again if deferred ('+ms'; lib/clock.lua at_ms)
  ARGV[5] name: the slot's name (KEYS[4] is slot_prefix .. name)
  ARGV[6] slot_prefix: the prefix of every slot's holders key
  ARGV[7] idle_ms: a slot not taken for this long is swept once its holders have no lease

  Returns 1 if the slot was taken (it may start), 0 if it was deferred, -1 if the token no longer
  held the message (its lease ran out: another worker has it).
]]
--@include clock

-- Holders of `key` that still hold a lease, after dropping those that do not.
local function held(key)
  local count = 0
  for _, holder in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    if redis.call('ZSCORE', KEYS[1], holder) then
      count = count + 1
    else
      redis.call('ZREM', key, holder)
    end
  end
  return count
end

if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then
  return -1
end
local now = now_ms()
if redis.call('ZSCORE', KEYS[4], ARGV[1]) then
  return 1 -- already taken by this delivery (the check was sent again)
end
if held(KEYS[4]) >= tonumber(ARGV[2]) then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZADD', KEYS[3], at_ms(ARGV[4], now), ARGV[3])
  return 0
end
redis.call('ZADD', KEYS[4], now, ARGV[1])
redis.call('ZADD', KEYS[5], now, ARGV[5])
redis.call('HSET', KEYS[6], ARGV[5], ARGV[2])
for _, name in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now - tonumber(ARGV[7]), 'LIMIT', 0, 2)) do
  if held(ARGV[6] .. name) == 0 then
    redis.call('ZREM', KEYS[5], name)
    redis.call('HDEL', KEYS[6], name)
  else
    redis.call('ZADD', KEYS[5], now, name)
  end
end
return 1
