-- Move scheduled messages that are due onto their queues (waking a worker for each queue).
-- ctx as in lib/requeue.lua. Returns how many were moved.
local function promote_due(scheduled, ctx, limit)
  local due = redis.call('ZRANGEBYSCORE', scheduled, '-inf', ctx.now, 'LIMIT', 0, limit)
  for _, item in ipairs(due) do
    requeue_entry(item, ctx, false)
  end
  if #due > 0 then
    call_chunked('ZREM', scheduled, false, due)
  end
  return #due
end
