--[[
  Record that a task has started (TRACK_STARTED), only while this delivery still holds it: a worker
  that froze between fetch and start, whose task another worker has since finished, must not turn
  that SUCCESS back into STARTED.

  KEYS[1] inflight   KEYS[2] result key
  ARGV[1] delivery token   ARGV[2] STARTED payload   ARGV[3] result expiry (ms)

  Returns 1 if written, 0 if this delivery no longer holds the task.
]]
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
