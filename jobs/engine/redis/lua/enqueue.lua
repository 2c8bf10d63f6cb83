--[[
  Enqueue messages. A ready one goes straight to a consumer idle on its queue (lib/deliver.lua),
  else onto the queue, waking an idle worker; a delayed one (ETA, countdown) into the scheduled
  set, where a fetch or maintain.lua promotes it when it is due. Due times and expiries are put on
  Redis's clock here (lib/clock.lua at_ms): a countdown counts from now, whatever the sender's clock
  says.

  Each message's id is remembered as it is accepted (keys.sent: one key per id, expiring after
  JOBS["SEND_DEDUP_SECONDS"]); a message whose id is remembered is left out. So a send repeated
  after a lost reply, or by a relay sending again, adds nothing, whether the first copy still waits,
  runs, or has run; and a task id is sent once, on purpose or not. Only the producer's sends come
  here: a retry scheduled by an ack, a workflow's next step (lib/ack.lua), a dead letter requeued
  (dead_requeue.lua) move messages by their own scripts, and are not checked.

  KEYS[1] scheduled: ZSET (due ms -> "score|queue|wire")
  KEYS[2] idle: HASH
  KEYS[3] leases
  KEYS[4] inflight
  KEYS[5] revoked
  KEYS[6] workers: heartbeats
  KEYS[7] expiries: ZSET
  KEYS[8] queue_set: the queues SET (keys.py)
  KEYS[9] delayed_wake (optional): if any message is delayed, the wake list of the first delayed
    message's queue
  ARGV[1] queue_prefix: queue key prefix
  ARGV[2] wake_prefix: wake key prefix
  ARGV[3] idle_prefix: idle list prefix
  ARGV[4] inbox_prefix
  ARGV[5] sent_prefix: sent key prefix (keys.sent; the id as the wire spells it is appended)
  ARGV[6] dedup_ms: how long an id is remembered (ms)
  ARGV[7] n: the number of plain messages (due now, no expiry)
  ARGV[8] r: the number of records
  ARGV[9] records_ms: the records' expiry (ms)
  ARGV[10] names: queue names to add to the queues SET, separated by spaces, or '': those the caller's
    process has not named in the last minute (broker.REGISTER_SECONDS), so that a send costs no
    command for it but about once a minute per queue and process
  ARGV[11 .. 10+3n] plain: 3 per plain message: queue, score (9 - priority), wire
  ARGV[11+3n .. 10+3n+2r] records: 2 per record: a list key, an entry pushed onto it unless the list
    holds it already (the first entry of a task that keeps its attempts, keys.attempts: the
    django.tasks backend's READY record, there as soon as this returns)
  ARGV[11+3n+2r ..] other: 5 per other message: queue, score, wire, due ('' = now, '+ms', 'ms'),
    expiry ('' = none, '+ms', 'ms')

  A delayed message that becomes the earliest one wakes an idle worker of its queue, which learns
  the new due time from its fetch and sleeps until then: countdowns start on time.

  Guarantee: one call, all or nothing. Repeated after a lost reply, it changes nothing: every id
  in it is remembered, every record there.

  Returns the number of messages accepted (those whose id was not remembered).
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
local accepted = 0
local plain_end = 10 + 3 * tonumber(ARGV[7])
local records_end = plain_end + 2 * tonumber(ARGV[8])
local sent, remember = ARGV[5], ARGV[6]

-- Whether this message's id was not sent lately; it is remembered from now on (one SET: the check
-- and the mark in one command).
local function first_send(wire)
  local id = string.match(wire, '^%x+|%d+|([^|]*)|')
  if id and not redis.call('SET', sent .. id, '1', 'NX', 'PX', remember) then
    return false
  end
  accepted = accepted + 1
  return true
end

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
for i = 11, plain_end, 3 do
  if first_send(ARGV[i + 2]) then
    ready(ARGV[i], ARGV[i + 1], ARGV[i + 2])
  end
end
if ARGV[10] ~= '' then
  local names = {}
  for name in string.gmatch(ARGV[10], '%S+') do
    names[#names + 1] = name
  end
  redis.call('SADD', KEYS[8], unpack(names))
end
for i = plain_end + 1, records_end, 2 do
  if not redis.call('LPOS', ARGV[i], ARGV[i + 1]) then
    redis.call('RPUSH', ARGV[i], ARGV[i + 1])
    redis.call('PEXPIRE', ARGV[i], ARGV[9])
  end
end
for i = records_end + 1, #ARGV, 5 do
  local queue, score, wire, due, expiry = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  if first_send(wire) then
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
return accepted
