--[[
  Send scheduled messages (countdown, ETA, retry) now, before their time (control.run_scheduled):
  each named member of the scheduled set that is still there goes to an idle consumer of its queue
  or onto the queue (lib/deliver.lua), as when it is promoted at its due time (lib/promote.lua). A
  member no longer there (promoted or deleted meanwhile) is skipped, so nothing is sent twice.

  The caller names exact members, read from the set (monitor.Monitor.scheduled_members): one ZREM
  each, O(log n), rather than this script searching the whole set for task ids while Redis waits.

  KEYS[1] scheduled
  KEYS[2] idle
  KEYS[3] leases
  KEYS[4] inflight
  KEYS[5] revoked
  KEYS[6] workers
  KEYS[7] dead
  KEYS[8] dead_order
  KEYS[9] history
  KEYS[10] history_dropped
  ARGV[1] queue_prefix: queue key prefix
  ARGV[2] wake_prefix: wake key prefix
  ARGV[3] idle_prefix: idle list prefix
  ARGV[4] inbox_prefix
  ARGV[5] dead_letters_max
  ARGV[6] history_backlog: HISTORY_BACKLOG (0 = no history)
  ARGV[7] result_ms: result expiry (ms)
  ARGV[8] result_prefix: result key prefix
  ARGV[9] done_prefix: done channel prefix (lib/workflow_end.lua: an unreadable member buried)
  ARGV[10 ..] members: "score|queue|wire"

  Returns how many were sent (an unreadable member goes to the dead letters and is not counted).
]]
--@include wake
--@include chunks
--@include clock
--@include history
--@include wire
--@include workflow_end
--@include dead
--@include deliver
--@include requeue

local ctx = { qp = ARGV[1], wp = ARGV[2], ip = ARGV[3], bp = ARGV[4], idle = KEYS[2], leases = KEYS[3],
              inflight = KEYS[4], revoked = KEYS[5], workers = KEYS[6], dead = KEYS[7], order = KEYS[8],
              now = now_ms(), max_deliveries = 0, dead_max = tonumber(ARGV[5]),
              hist = { key = KEYS[9], dropped = KEYS[10], max = tonumber(ARGV[6]) },
              ttl = ARGV[7], rp = ARGV[8], cp = ARGV[9] }
local sent = 0
for i = 10, #ARGV do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 and requeue_entry(ARGV[i], ctx, false) then
    sent = sent + 1
  end
end
return sent
