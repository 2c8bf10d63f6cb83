--[[
  Records a recorder has written to the database leave the history (history.py): acknowledged in
  the consumer group and deleted from the stream in one step, so the backlog the scripts bound
  (lib/history.lua) counts only what is not in the database yet.

  KEYS[1] history
  ARGV[1] group: the consumer group
  ARGV[2 ..] ids: entry ids

  Returns how many were deleted.
]]
redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
return redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
