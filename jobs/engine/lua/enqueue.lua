--[[
  Enqueue messages. A ready one goes straight to a consumer idle on its queue (lib/deliver.lua),
  else onto the queue, waking an idle worker; a delayed one (ETA, countdown) into the scheduled
  set, where a fetch or maintain.lua promotes it when it is due. Due times and expiries are put on
  Redis's clock here (lib/clock.lua at_ms): a countdown counts from now, whatever the sender's clock
  says.

  KEYS[1] scheduled ZSET (due ms -> "score|queue|wire")   KEYS[2] idle HASH   KEYS[3] leases
  KEYS[4] inflight   KEYS[5] revoked   KEYS[6] workers (heartbeats)   KEYS[7] expiries ZSET
  KEYS[8] the queues SET (keys.py)
  KEYS[9] (if any message is delayed) the wake list of the first delayed message's queue
  ARGV[1] queue key prefix   ARGV[2] wake key prefix   ARGV[3] idle list prefix   ARGV[4] inbox prefix
  ARGV[5] n, the number of plain messages (due now, no expiry)   ARGV[6] r, the number of records
  ARGV[7] the records' expiry (ms)
  ARGV[8] queue names to add to the queues SET, separated by spaces, or '': those the caller's process
  has not named in the last minute (broker.REGISTER_SECONDS), so that a send costs no command for it
  but about once a minute per queue and process; then:
  ARGV[9 .. 8+3n] three per plain message: queue, score (9 - priority), wire
  then 2r: two per record: a list key, an entry pushed onto it (the first entry of a task that keeps
  its attempts, keys.attempts: the django.tasks backend's READY record, there as soon as this
  returns)
  then five per other message: queue, score, wire, due ('' = now, '+ms', 'ms'), expiry
  ('' = none, '+ms', 'ms')

  A delayed message that becomes the earliest one wakes an idle worker of its queue, which learns
  the new due time from its fetch and sleeps until then: countdowns start on time.

  Guarantee: one call, all or nothing. Repeated after a lost reply, it adds no second copy of a
  message to a queue (a member is the whole message, enqueue time and id included); a delayed one
  may have its due time moved by the delay between the two calls, and a message already handed off
  could be handed off again: at least once.
]]
--@include wake
--@include chunks
--@include clock
--@include wire
--@include deliver

local d = { qp = ARGV[1], wp = ARGV[2], ip = ARGV[3], bp = ARGV[4], idle = KEYS[2], leases = KEYS[3],
            inflight = KEYS[4], revoked = KEYS[5], workers = KEYS[6] }
local by_queue = {}
local order = {}
local delayed = {}
local now = nil
local plain_end = 8 + 3 * tonumber(ARGV[5])
local records_end = plain_end + 2 * tonumber(ARGV[6])
local function ready(queue, score, wire)
  local items = by_queue[queue]
  if not items then
    items = {}
    by_queue[queue] = items
    order[#order + 1] = queue
  end
  items[#items + 1] = score
  items[#items + 1] = wire
end
for i = 9, plain_end, 3 do
  ready(ARGV[i], ARGV[i + 1], ARGV[i + 2])
end
if ARGV[8] ~= '' then
  local names = {}
  for name in string.gmatch(ARGV[8], '%S+') do
    names[#names + 1] = name
  end
  redis.call('SADD', KEYS[8], unpack(names))
end
for i = plain_end + 1, records_end, 2 do
  redis.call('RPUSH', ARGV[i], ARGV[i + 1])
  redis.call('PEXPIRE', ARGV[i], ARGV[7])
end
for i = records_end + 1, #ARGV, 5 do
  local queue, score, wire, due, expiry = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  if (due ~= '' or expiry ~= '') and not now then
    now = now_ms()
  end
  if expiry ~= '' then
    record_expiry(KEYS[7], wire_id(wire) or '', expiry, now)
  end
  local at = due ~= '' and at_ms(due, now)
  if at and at > now then
    delayed[#delayed + 1] = at
    delayed[#delayed + 1] = score .. '|' .. queue .. '|' .. wire
  else  -- due now, or an eta that has passed already (by Redis's clock)
    ready(queue, score, wire)
  end
end

if #delayed > 0 then
  local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  call_chunked('ZADD', KEYS[1], false, delayed)
  local new_head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if #head == 0 or new_head[2] ~= head[2] then
    wake(KEYS[9])
  end
end

for _, queue in ipairs(order) do
  local items = by_queue[queue]
  local first = 1
  local seen = false
  if redis.call('LLEN', d.ip .. queue) > 0 then
    -- Consumers are idle on this queue: hand them what they can take, one each.
    seen = true
    while first < #items and not is_revoked(d, items[first + 1]) and not has_expiry(items[first + 1])
        and hand_off(d, queue, items[first], items[first + 1]) do
      first = first + 2
    end
  end
  if first < #items then
    local rest = items
    if first > 1 then
      rest = {}
      for i = first, #items do
        rest[#rest + 1] = items[i]
      end
    end
    call_chunked('ZADD', d.qp .. queue, false, rest)
    if seen then
      wake(d.wp .. queue)  -- see lib/deliver.lua: with no idle consumer, nobody is blocked
    end
  end
end
return tonumber(ARGV[5]) + (#ARGV - records_end) / 5
