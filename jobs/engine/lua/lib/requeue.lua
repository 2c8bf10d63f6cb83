-- Put an in-flight or scheduled entry ("score|queue|wire") back on its queue, counting the delivery
-- that ended in the wire header ("enqueued|deliveries|..."). The enqueue time is kept, so the
-- message goes back to the head of its priority, not the tail. An entry that cannot be read goes to
-- the dead letters instead: one bad entry must never make this script fail, or every worker's
-- maintenance would fail with it. Returns the queue's name, or false for a dead letter.
local function bury_raw(dead_key, now_ms, reason, entry)
  redis.call('ZADD', dead_key, now_ms,
    cjson.encode({ reason = reason, message = entry, time = now_ms / 1000 }))
  return false
end

local function requeue_entry(entry, queue_prefix, wake_prefix, dead_key, now_ms, count_delivery)
  local score, queue, wire = string.match(entry, '^([^|]+)|([^|]+)|(.*)$')
  if not score or not tonumber(score) then
    return bury_raw(dead_key, now_ms, 'unreadable entry (no score|queue| prefix)', entry)
  end
  if count_delivery then
    local enqueued, deliveries, rest = string.match(wire, '^(%x+)|(%d+)|(.*)$')
    if enqueued then
      wire = enqueued .. '|' .. (tonumber(deliveries) + 1) .. '|' .. rest
    end -- else: not our header; the worker that takes it will move it to the dead letters
  end
  redis.call('ZADD', queue_prefix .. queue, score, wire)
  wake(wake_prefix .. queue)
  return queue
end
