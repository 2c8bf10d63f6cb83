--[[
  Move a delivery that cannot be run (undecodable, content type not accepted, ...) to the dead
  letters, with the reason and the original message: never dropped, and never retried blindly.
  The store is bounded: past `max` entries the oldest are trimmed, and the caller warns.

  KEYS[1] leases   KEYS[2] inflight   KEYS[3] dead ZSET (time ms -> JSON record)
  ARGV[1] delivery token   ARGV[2] now (ms)   ARGV[3] record   ARGV[4] max entries

  Returns { 1 if moved or 0 if the token no longer held it (fenced), number trimmed }
]]
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then
  return { 0, 0 }
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
local trimmed = 0
local size = redis.call('ZCARD', KEYS[3])
local max = tonumber(ARGV[4])
if size > max then
  trimmed = redis.call('ZREMRANGEBYRANK', KEYS[3], 0, size - max - 1)
end
return { 1, trimmed }
