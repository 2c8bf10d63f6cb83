--[[
  Record that a task has started (TRACK_STARTED), only while this delivery still holds it: a worker
  that froze between fetch and start, whose task another worker has since finished, must not turn
  that SUCCESS back into STARTED. The same call records a custom state (update_state, progress):
  then nothing goes to the history, which keeps outcomes (and STARTED) only.

  A task that keeps its attempts (the django.tasks backend: a lease that ran out is an attempt, and
  each attempt's worker is listed) adds this start to its attempts list in the same step.

  KEYS[1] inflight
  KEYS[2] result: the result key
  KEYS[3] history
  KEYS[4] history_dropped
  KEYS[5] attempts (optional): the attempts list
  ARGV[1] token: delivery token
  ARGV[2] payload
  ARGV[3] result_ms: result expiry (ms)
  ARGV[4] history_backlog: HISTORY_BACKLOG (0 = not recorded in the history)
  ARGV[5] attempt (optional): with KEYS[5], the attempt

  Returns 1 if written (with KEYS[5]: the attempts list, this start last), 0 if this delivery no
  longer holds the task.
]]
--@include history

if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
record_history({ key = KEYS[3], dropped = KEYS[4], max = tonumber(ARGV[4]) }, 'r', ARGV[2], true)
if KEYS[5] then
  redis.call('RPUSH', KEYS[5], ARGV[5])
  redis.call('PEXPIRE', KEYS[5], ARGV[3])
  return redis.call('LRANGE', KEYS[5], 0, -1)
end
return 1
