-- Put an in-flight entry ("score|queue|wire") back on its queue, counting the delivery that ended
-- in the wire header ("enqueued|deliveries|..."). The enqueue time is kept, so the message goes back
-- to the head of its priority, not the tail. Returns the queue's name.
local function requeue_entry(entry, queue_prefix, wake_prefix)
  local score, queue, enqueued, deliveries, rest =
    string.match(entry, '^([^|]+)|([^|]+)|(%x+)|(%d+)|(.*)$')
  local wire = enqueued .. '|' .. (tonumber(deliveries) + 1) .. '|' .. rest
  redis.call('ZADD', queue_prefix .. queue, score, wire)
  wake(wake_prefix .. queue)
  return queue
end
