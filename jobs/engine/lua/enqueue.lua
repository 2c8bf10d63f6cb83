--[[
  Enqueue messages. A ready one goes straight to a consumer idle on its queue (lib/deliver.lua),
  else onto the queue, waking an idle worker; a delayed one (ETA, countdown) into the scheduled
  set, where a fetch or maintain.lua promotes it when it is due.

  KEYS[1] scheduled ZSET (due ms -> "score|queue|wire")   KEYS[2] idle HASH   KEYS[3] leases
  KEYS[4] inflight   KEYS[5] revoked   KEYS[6] workers (heartbeats)
  KEYS[7] (if any message is scheduled) the wake list of the first scheduled message's queue
  ARGV[1] queue key prefix   ARGV[2] wake key prefix   ARGV[3] idle list prefix   ARGV[4] inbox prefix
  ARGV[5 ..] triplets: queue name ('' = scheduled), score (due ms if scheduled), member

  A scheduled message that becomes the earliest one wakes an idle worker of its queue, which learns
  the new due time from its fetch and sleeps until then: countdowns start on time.

  Guarantee: one call, all or nothing. Idempotent: a member is the whole message including its
  enqueue time and id, so a call retried after a lost reply adds nothing the first one added (a
  message already handed off could be handed off again: at least once).
]]
--@include wake
--@include chunks
--@include clock
--@include deliver

local d = { qp = ARGV[1], wp = ARGV[2], ip = ARGV[3], bp = ARGV[4], idle = KEYS[2], leases = KEYS[3],
            inflight = KEYS[4], revoked = KEYS[5], workers = KEYS[6] }
local by_queue = {}
local order = {}
for i = 5, #ARGV, 3 do
  local queue = ARGV[i]
  local items = by_queue[queue]
  if not items then
    items = {}
    by_queue[queue] = items
    order[#order + 1] = queue
  end
  items[#items + 1] = ARGV[i + 1]
  items[#items + 1] = ARGV[i + 2]
end

for _, queue in ipairs(order) do
  local items = by_queue[queue]
  if queue == '' then
    local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    call_chunked('ZADD', KEYS[1], false, items)
    local new_head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    if #head == 0 or new_head[2] ~= head[2] then
      wake(KEYS[7])
    end
  else
    local first = 1
    local seen = false
    if redis.call('LLEN', d.ip .. queue) > 0 then
      -- Consumers are idle on this queue: hand them what they can take, one each.
      seen = true
      while first < #items and not is_revoked(d, items[first + 1])
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
end
return (#ARGV - 4) / 3
