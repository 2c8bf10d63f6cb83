--[[
  Settle a delivery by putting its message back into the scheduled set for later, in one step: a
  task the worker does not know yet (a rolling deploy where the web is newer than the worker) or,
  later, a retry. The token must still hold the message (fencing), or nothing happens.

  KEYS[1] leases
  KEYS[2] inflight
  KEYS[3] scheduled
  ARGV[1] token: the delivery token
  ARGV[2] due: due time ('+ms' from now, or ms; lib/clock.lua at_ms)
  ARGV[3] member: scheduled member "score|queue|wire"

  Returns 1 if deferred, 0 if the token no longer held the message.
]]
--@include clock

if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[3], at_ms(ARGV[2], now_ms()), ARGV[3])
return 1
