--[[
  A resumable task's checkpoint: remember how far the run got (its cursor), so that the next delivery
  of the task (after a kill -9, a warm shutdown that handed it back, a retry) starts from there. Only
  while this delivery still holds the task: a run that lost its lease, whose task another worker now
  runs, must not move that run's cursor back. The same step tells a revoked run to stop here.

  KEYS[1] inflight
  KEYS[2] cursor: the task's cursor key
  KEYS[3] revoked
  ARGV[1] token: delivery token
  ARGV[2] cursor: the cursor (JSON)
  ARGV[3] result_ms: how long it is kept (the result's expiry, ms)
  ARGV[4] id: the task's id

  Returns 1 if stored, 0 if this delivery no longer holds the task, 2 if the task was revoked (the
  cursor is stored all the same).
]]

if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
if redis.call('ZSCORE', KEYS[3], ARGV[4]) then
  return 2
end
return 1
