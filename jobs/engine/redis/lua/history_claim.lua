--[[
  Take over history records another recorder read and did not finish (history.py): at least once,
  whatever happened to the recorder that read them.
  - Those of a recorder whose worker is gone: its heartbeat ({p}:workers, the worker id is the
    recorder's name) is missing or older than `dead_ms`, as maintain.lua judges a dead worker's
    leases. Taken at once: a worker killed with kill -9 leaves nothing waiting longer than its
    tasks would.
  - Any record read more than `idle_ms` ago and still not finished (a recorder whose worker lives
    but whose database write hangs).

  KEYS[1] history
  KEYS[2] workers: heartbeats
  ARGV[1] group: the consumer group
  ARGV[2] consumer: this recorder
  ARGV[3] idle_ms
  ARGV[4] dead_ms
  ARGV[5] limit: how many records at most

  Returns the records taken: { { id, { field, value } }, ... }.
]]
--@include clock

if redis.call('EXISTS', KEYS[1]) == 0 then
  return {}
end
local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then
  return {}  -- no group yet
end
local me, count = ARGV[2], tonumber(ARGV[5])
local taken = {}
local function add(entries)
  for _, e in ipairs(entries) do
    if e and e ~= false and #e == 2 then
      taken[#taken + 1] = e
    end
  end
end

local now = now_ms()
for _, c in ipairs(consumers) do
  local info = {}
  for i = 1, #c, 2 do
    info[c[i]] = c[i + 1]
  end
  if info['name'] ~= me and tonumber(info['pending']) > 0 and #taken < count then
    local beat = redis.call('ZSCORE', KEYS[2], info['name'])
    if not beat or tonumber(beat) < now - tonumber(ARGV[4]) then
      local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', count - #taken, info['name'])
      local ids = {}
      for _, p in ipairs(pending) do
        ids[#ids + 1] = p[1]
      end
      if #ids > 0 then
        add(redis.call('XCLAIM', KEYS[1], ARGV[1], me, 0, unpack(ids)))
      end
    end
  end
end
if #taken < count then
  local reply = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], me, ARGV[3], '0-0', 'COUNT', count - #taken)
  add(reply[2])
end
return taken
