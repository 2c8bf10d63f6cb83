--[[
  Revoke tasks by id: a waiting one is not run (fetch.lua checks the revoked set and marks it
  REVOKED when a worker comes to it), and with `terminate` a running one is stopped (each worker's
  maintain.lua reports the ids it runs that are in the terminate set, and the worker stops them).
  As in Celery, the result changes when a worker acts on it, not here: a revoked task that is
  already running (without terminate) finishes and keeps its result.

  KEYS[1] revoked: ZSET
  KEYS[2] terminate: ZSET
  ARGV[1] terminate: '1' to terminate running ones
  ARGV[2 ..] ids

  Returns the number of ids revoked.
]]
--@include clock

local now = now_ms()
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], now, ARGV[i])
  if ARGV[1] == '1' then
    redis.call('ZADD', KEYS[2], now, ARGV[i])
  end
end
return #ARGV - 1
