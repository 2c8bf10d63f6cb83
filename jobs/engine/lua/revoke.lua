--[[
  Revoke tasks by id: a waiting one is not run (fetch.lua checks the revoked set), and with
  `terminate` a running one is stopped (each worker's maintain.lua reports the ids it runs that are
  in the terminate set, and the worker stops them). A task with no result yet shows REVOKED at once;
  a finished one keeps its result.

  KEYS[1] revoked ZSET   KEYS[2] terminate ZSET   KEYS[3 ..] result keys, one per id
  ARGV[1] result expiry (ms)   ARGV[2] done channel prefix   ARGV[3] '1' to terminate running ones
  ARGV[4] REVOKED payload   ARGV[5 ..] ids

  Returns the number of ids that had no result yet.
]]
--@include clock

local now = now_ms()
local fresh = 0
for i = 5, #ARGV do
  local id = ARGV[i]
  redis.call('ZADD', KEYS[1], now, id)
  if ARGV[3] == '1' then
    redis.call('ZADD', KEYS[2], now, id)
  end
  if redis.call('SET', KEYS[i - 2], ARGV[4], 'PX', ARGV[1], 'NX') then
    redis.call('PUBLISH', ARGV[2] .. id, '1')
    fresh = fresh + 1
  end
end
return fresh
