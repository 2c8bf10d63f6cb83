--[[
  Rate limits, shared by every worker: may this delivery start now? If not, it goes back into the
  scheduled set until its turn, in the same step, so a task over its limit neither runs nor holds a
  worker process nor is spun on.

  Each budget is a hash {tat, res}: `tat` (GCRA's theoretical arrival time) is the earliest instant
  the next run may start, `interval` after the last start; a start is allowed when now >= tat of
  every budget of the call, which keeps starts at least `interval` apart, so no window of a period
  holds more starts than the limit. `res` spreads the waiters: each deferred message gets the next
  free turn after the others (res advances one interval per waiter), so they come back one by one,
  not all at once, and a new call queues behind them rather than taking their turns. One that comes
  back and still finds it too early (the run before it started late) waits for `tat` itself.

  KEYS[1] leases
  KEYS[2] inflight
  KEYS[3] scheduled
  KEYS[4 ..] budgets
  ARGV[1] token: delivery token ('' = not held: just answer)
  ARGV[2] waited: 1 if this message waited before
  ARGV[3] member: scheduled member "score|queue|wire" to defer, with its waited mark set
  ARGV[4 ..] intervals: interval (ms) of each budget, in KEYS order

  Returns 0 if it may start now (the start is counted), else the due time (ms) it was deferred to,
  or -1 if the token no longer held the message (its lease ran out: another worker has it).
]]
--@include clock

local now = now_ms()
local n = #ARGV - 3  -- not #KEYS: on a Redis Cluster the link declares one key more (scripts.py)
local waited = ARGV[2] == '1'
-- A new call waits behind the turns given to waiters (res); a waiter back at its turn only needs
-- the budget (tat): its own turn is in res.
local due = now
for i = 1, n do
  local fields = redis.call('HMGET', KEYS[3 + i], 'tat', 'res')
  local tat, res = tonumber(fields[1]) or 0, tonumber(fields[2]) or 0
  if tat > due then
    due = tat
  end
  if not waited and res > due then
    due = res
  end
end
if due <= now then
  for i = 1, n do
    local interval = tonumber(ARGV[3 + i])
    redis.call('HSET', KEYS[3 + i], 'tat', now + interval)
    redis.call('PEXPIRE', KEYS[3 + i], math.ceil(interval * 2 + 60000))
  end
  return 0
end
if not waited then
  for i = 1, n do
    local interval = tonumber(ARGV[3 + i])
    redis.call('HSET', KEYS[3 + i], 'res', due + interval)
    redis.call('PEXPIRE', KEYS[3 + i], math.ceil(due - now + interval * 2 + 60000))
  end
end
if ARGV[1] ~= '' then
  if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then
    return -1
  end
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZADD', KEYS[3], math.ceil(due), ARGV[3])
end
return math.ceil(due)
