--[[
  Enqueue messages: ready ones onto their queue, waking one idle worker per queue; delayed ones
  (ETA, countdown) into the scheduled set, where maintain.lua finds them when they are due.

  KEYS[1]       scheduled   ZSET  due time (ms) -> "score|queue|wire"
  KEYS[2i]      queue i     ZSET  9 - priority  -> wire
  KEYS[2i+1]    wake i      LIST  wake token of queue i
  ARGV          triplets: target (0 = scheduled, i = queue i), score, member

  KEYS[2 + 2n]  wake list of the queue of the first scheduled message (if any)

  A scheduled message that becomes the earliest one wakes an idle worker of its queue, which learns
  the new due time from its fetch and sleeps until then: countdowns start on time, not at the next
  maintenance tick.

  Guarantee: one call, all or nothing. Idempotent: a member is the whole message including its
  enqueue time and id, so a call retried after a lost reply adds nothing the first one added.
]]
--@include wake
--@include chunks

local by_target = {}
for i = 1, #ARGV, 3 do
  local target = tonumber(ARGV[i])
  local items = by_target[target]
  if not items then
    items = {}
    by_target[target] = items
  end
  items[#items + 1] = ARGV[i + 1]
  items[#items + 1] = ARGV[i + 2]
end

for target, items in pairs(by_target) do
  if target == 0 then
    local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    call_chunked('ZADD', KEYS[1], false, items)
    local new_head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    if #head == 0 or new_head[2] ~= head[2] then
      wake(KEYS[#KEYS])
    end
  else
    call_chunked('ZADD', KEYS[2 * target], false, items)
    wake(KEYS[2 * target + 1])
  end
end
return #ARGV / 3
