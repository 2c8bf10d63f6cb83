--[[
  Record that a task has started (TRACK_STARTED), only while this delivery still holds it: a worker
  that froze between fetch and start, whose task another worker has since finished, must not turn
  that SUCCESS back into STARTED. The same call records a custom state (update_state, progress):
  then nothing goes to the history, which keeps outcomes (and STARTED) only.

  KEYS[1] inflight   KEYS[2] result key   KEYS[3] history   KEYS[4] history dropped
  ARGV[1] delivery token   ARGV[2] payload   ARGV[3] result expiry (ms)
  ARGV[4] HISTORY_BACKLOG (0 = not recorded in the history)

  Returns 1 if written, 0 if this delivery no longer holds the task.
]]
--@include history

if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
record_history({ key = KEYS[3], dropped = KEYS[4], max = tonumber(ARGV[4]) }, 'r', ARGV[2], true)
return 1
