--[[
  Give up beat leadership (a beat stopping in order), only if this beat holds it.

  KEYS[1] leader: the leader key
  ARGV[1] beat_id: this beat's id
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
