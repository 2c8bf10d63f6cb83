--[[
  Resume a paused queue (pause.lua). Idle consumers of the queue are blocked on its wake list:
  a token there gets one up, and a consumer that takes a full batch and sees work left passes the
  wake on (fetch.lua), so a long queue gets all of them moving.

  KEYS[1] paused: HASH
  KEYS[2] queue: the queue's ZSET
  KEYS[3] wake: its wake list
  ARGV[1] name: the queue's name

  Returns 1 if the queue was paused, 0 if it was not.
]]
--@include wake

local removed = redis.call('HDEL', KEYS[1], ARGV[1])
if removed == 1 and redis.call('ZCARD', KEYS[2]) > 0 then
  wake(KEYS[3])
end
return removed
