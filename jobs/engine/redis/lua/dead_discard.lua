--[[
  Delete dead letters by id (control.discard_dead, the console's "discard"): each record and its
  place in the order, together, so a list never shows an id whose record is gone.

  KEYS[1] dead
  KEYS[2] dead_order
  ARGV[1 ..] ids

  Returns how many of them were there.
]]

local n = 0
for i = 1, #ARGV do
  n = n + redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
end
return n
