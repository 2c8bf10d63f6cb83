--[[
  Hand deliveries back to their queues at once, rather than when their lease runs out: a warm
  shutdown returning what it did not start or finish, a supervisor returning what a dead child held.
  Only tokens still in flight are handed back (fencing): one already acknowledged, or already
  recovered by maintain.lua, is left alone, so nothing is queued twice.

  KEYS[1] leases
  KEYS[2] inflight
  KEYS[3] dead
  KEYS[4] dead_order
  KEYS[5] idle
  KEYS[6] revoked
  KEYS[7] workers
  KEYS[8] history
  KEYS[9] history_dropped
  ARGV[1] queue_prefix: queue key prefix
  ARGV[2] wake_prefix: wake key prefix
  ARGV[3] lost: '1' to count these as lost deliveries (a crash), '0' for an orderly hand-back
  ARGV[4] max_deliveries: MAX_DELIVERIES
  ARGV[5] dead_letters_max
  ARGV[6] idle_prefix: idle list prefix
  ARGV[7] inbox_prefix
  ARGV[8] forget: '1' to drop the consumer's idle registration (it is gone), '0' to keep it (a live
    consumer handing back what a call with a lost reply took)
  ARGV[9] history_backlog: HISTORY_BACKLOG (0 = no history)
  ARGV[10] result_ms: result expiry (ms)
  ARGV[11] result_prefix: result key prefix
  ARGV[12] done_prefix: done channel prefix (lib/workflow_end.lua: a workflow's step buried ends its
    workflow)
  ARGV[13 ..] tokens: delivery tokens

  Returns the number handed back (to a queue or, past MAX_DELIVERIES, to the dead letters).
]]
--@include wake
--@include clock
--@include history
--@include wire
--@include workflow_end
--@include dead
--@include deliver
--@include requeue

local ctx = { qp = ARGV[1], wp = ARGV[2], ip = ARGV[6], bp = ARGV[7], idle = KEYS[5], leases = KEYS[1],
              inflight = KEYS[2], revoked = KEYS[6], workers = KEYS[7], dead = KEYS[3], order = KEYS[4],
              now = now_ms(),
              max_deliveries = tonumber(ARGV[4]), dead_max = tonumber(ARGV[5]),
              hist = { key = KEYS[8], dropped = KEYS[9], max = tonumber(ARGV[9]) },
              ttl = ARGV[10], rp = ARGV[11], cp = ARGV[12] }
local count = 0
for i = 13, #ARGV do
  if ARGV[8] == '1' then
    forget_consumer(ctx, ARGV[i])
  end
  local entry = redis.call('HGET', KEYS[2], ARGV[i])
  if entry then
    requeue_entry(entry, ctx, ARGV[3] == '1')
    redis.call('HDEL', KEYS[2], ARGV[i])
    count = count + 1
  end
  redis.call('ZREM', KEYS[1], ARGV[i])
end
return count
