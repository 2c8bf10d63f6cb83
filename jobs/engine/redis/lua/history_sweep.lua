--[[
  Forget recorders that are gone from the history's consumer group (history.py): a recorder that
  stops in order removes itself, and every recorder now and then removes those idle for long (a
  worker killed, whose records another recorder has since taken over). Only a recorder holding no
  records is removed: Redis forgets the records a removed consumer still held, and they would never
  reach the database.

  KEYS[1] history
  ARGV[1] group: the consumer group
  ARGV[2] consumer: a recorder to remove now ('' = none)
  ARGV[3] idle_ms: remove the others idle this long (ms; '' = none)

  Returns how many were removed.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then
  return 0  -- no such group yet
end
local removed = 0
for _, c in ipairs(consumers) do
  local info = {}
  for i = 1, #c, 2 do
    info[c[i]] = c[i + 1]
  end
  local gone = info['name'] == ARGV[2] or (ARGV[3] ~= '' and tonumber(info['idle']) > tonumber(ARGV[3]))
  if gone and tonumber(info['pending']) == 0 then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    removed = removed + 1
  end
end
return removed
