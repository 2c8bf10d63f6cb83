--[[
  Delete the dead letters buried up to a moment (`manage.py jobs dead purge`): those the operator
  was shown and agreed to delete, not those that arrived while the command waited for the answer.
  Their times in the order ZSET only grow (lib/dead.lua), so "up to" is a score.

  KEYS[1] dead
  KEYS[2] dead_order
  ARGV[1] upto: the newest score to delete ('+inf': all)

  Returns the number deleted.
]]
--@include chunks

local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
if #ids > 0 then
  call_chunked('HDEL', KEYS[1], false, ids)
  call_chunked('ZREM', KEYS[2], false, ids)
end
return #ids
