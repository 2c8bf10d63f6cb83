--[[
  Take the counts of outcomes the history did not record because its backlog was full
  (lib/history.lua), for a recorder to log once: read and reset in one step.

  KEYS[1] history_dropped: HASH kind -> count

  Returns { kind, count, ... }.
]]
local counts = redis.call('HGETALL', KEYS[1])
if #counts > 0 then
  redis.call('DEL', KEYS[1])
end
return counts
