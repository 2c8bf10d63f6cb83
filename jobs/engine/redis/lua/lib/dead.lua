-- The dead letters: a HASH id -> record (JSON) and a ZSET id -> time, bounded by `max` entries
-- (the oldest are trimmed; the caller warns). A record keeps everything needed to requeue it:
-- the queue, the priority score and the original message, untouched.
local function bury(dead, order, id, record, now_ms, max)
  redis.call('HSET', dead, id, record)
  -- Strictly increasing, so "oldest" is exact even for burials within one millisecond.
  local last = redis.call('ZRANGE', order, -1, -1, 'WITHSCORES')
  local score = now_ms
  if #last > 0 and tonumber(last[2]) >= now_ms then
    score = tonumber(last[2]) + 0.001
  end
  redis.call('ZADD', order, score, id)
  local size = redis.call('ZCARD', order)
  if size <= max then
    return 0
  end
  local old = redis.call('ZPOPMIN', order, size - max)
  for i = 1, #old, 2 do
    redis.call('HDEL', dead, old[i])
  end
  return #old / 2
end

-- A dead letter's id: the task id, or, when a dead letter of that task id is there already (a
-- caller reused an id, or one task id failed twice), the task id and "#2", "#3"...: each is kept.
local function dead_id(dead, task_id)
  if redis.call('HEXISTS', dead, task_id) == 0 then
    return task_id
  end
  local n = 2
  while redis.call('HEXISTS', dead, task_id .. '#' .. n) == 1 do
    n = n + 1
  end
  return task_id .. '#' .. n
end

-- Bury a "score|queue|wire" entry (or anything else, kept as it is) with a reason, and record it
-- in the history (REJECTED). A workflow's step buried will never be acknowledged, so what would
-- have followed it is marked REVOKED in the same step, saying why (lib/workflow_end.lua); the
-- record then says `ended`, and dead_requeue.lua runs that step alone: its followers have their
-- result already.
-- ctx: dead, order, now (ms), dead_max, hist (lib/history.lua), and rp, cp, ttl (lib/workflow_end.lua).
local function bury_entry(ctx, entry, reason, worker)
  if string.sub(entry, 1, 1) == '!' then
    entry = string.sub(entry, 2)  -- acknowledged early (ack_early.lua); the message is the same
  end
  local score, queue, wire = split_entry(entry)
  if not score then
    score, queue, wire = 9, '', entry
  end
  local task_id, task = wire_id(wire)
  if not task_id or task_id == '' then
    task_id = 'unreadable-' .. redis.sha1hex(wire)
  end
  local id = dead_id(ctx.dead, task_id)
  local ended = 0
  if task then
    ended = never_run(wire, task_id, task, 'was moved to the dead letters: ' .. reason, ctx)
  end
  local record = cjson.encode({ id = id, task_id = task_id, task = task or '', queue = queue, score = score,
    reason = reason, worker = worker, time = ctx.now / 1000, message = wire, ended = ended > 0 or nil })
  record_history(ctx.hist, 'x', record, false)
  return bury(ctx.dead, ctx.order, id, record, ctx.now, ctx.dead_max)
end
