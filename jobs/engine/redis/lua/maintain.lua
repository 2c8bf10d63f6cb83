--[[
  Move what is due, run by every worker about once a second so that nothing else needs to run for
  countdowns and crash recovery to work:
  - scheduled messages whose time has come go onto their queues;
  - messages whose lease ran out (their worker died, froze or lost Redis) go back onto their
    queues, counting one more lost delivery (past MAX_DELIVERIES: the dead letters, and a workflow's
    step buried ends its workflow: lib/dead.lua), unless it was handed off to a consumer that never
    took it from its inbox; their old token is dropped, so the old holder is fenced;
  - the caller's heartbeat is recorded; about once a minute, heartbeats older than an hour and
    revocations older than the revocation memory are dropped;
  - of the task ids the caller is running, those revoked with terminate=True are returned;
  - the caller's running tasks and when each started are written down for the console (its
    {p}:running:<id> HASH, replaced, with a short expiry: a worker killed leaves it seconds), and
    whether it was asked to stop (control.shutdown: its id in the shutdown SET) is returned.
  Times are Redis's own (TIME), so workers' clocks do not matter. An entry that cannot be read is
  moved to the dead letters rather than failing the script (which would stop this for everyone).

  Leases are not charged for time when Redis itself could not be reached: if no worker has run this
  script for over 2 s (workers run it every second), Redis was paused or unreachable, or no worker
  ran at all, and no holder could renew in that gap either. Every lease deadline is then moved
  forward by the gap (at most one lease length), once, by the first call after it: holders get
  back the time they could not renew in, however many maintenance calls queued up behind the pause
  run before their renewals do, so a CLIENT PAUSE shorter than the lease makes no task run twice.
  The price: after every worker was down for a while, the first one to come back recovers the dead
  workers' tasks one gap later.

  KEYS[1] scheduled
  KEYS[2] leases
  KEYS[3] inflight
  KEYS[4] workers
  KEYS[5] dead
  KEYS[6] dead_order
  KEYS[7] revoked
  KEYS[8] terminate
  KEYS[9] last_run: last run (ms)
  KEYS[10] idle
  KEYS[11] expiries
  KEYS[12] history
  KEYS[13] history_dropped
  KEYS[14] running: the caller's running HASH
  KEYS[15] shutdown: SET (ids of workers asked to stop)
  ARGV[1] queue_prefix: queue key prefix
  ARGV[2] wake_prefix: wake key prefix
  ARGV[3] limit: batch limit
  ARGV[4] worker_id: ('' = none)
  ARGV[5] max_deliveries: MAX_DELIVERIES (0 = no limit)
  ARGV[6] dead_letters_max
  ARGV[7] revoked_ms: revocation memory (ms)
  ARGV[8] lease_ms: lease length (ms)
  ARGV[9] idle_prefix: idle list prefix
  ARGV[10] inbox_prefix
  ARGV[11] history_backlog: HISTORY_BACKLOG (0 = no history)
  ARGV[12] running_ms: the running HASH's expiry (ms)
  ARGV[13] result_ms: result expiry (ms)
  ARGV[14] result_prefix: result key prefix
  ARGV[15] done_prefix: done channel prefix (lib/workflow_end.lua)
  ARGV[16 ..] running: 2 per task the caller is running: its id, how long it has run (ms; an interval,
    so the start is put on Redis's clock here, whatever the worker's clock says)

  Returns { promoted count, { recovered token, queue or '', ... }, next due time (ms) or false, now (ms),
            { ids to terminate }, 1 if the caller was asked to stop else 0 }
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
--@include promote

local now = now_ms()
local limit = tonumber(ARGV[3])
local ctx = { qp = ARGV[1], wp = ARGV[2], ip = ARGV[9], bp = ARGV[10], idle = KEYS[10], leases = KEYS[2],
              inflight = KEYS[3], revoked = KEYS[7], workers = KEYS[4], dead = KEYS[5], order = KEYS[6], now = now,
              max_deliveries = tonumber(ARGV[5]), dead_max = tonumber(ARGV[6]),
              hist = { key = KEYS[12], dropped = KEYS[13], max = tonumber(ARGV[11]) },
              ttl = ARGV[13], rp = ARGV[14], cp = ARGV[15] }

local promoted = promote_due(KEYS[1], ctx, limit)

local last = tonumber(redis.call('GET', KEYS[9]) or now)
redis.call('SET', KEYS[9], now, 'PX', 600000)
if now - last > 2000 then
  local shift = math.min(now - last, tonumber(ARGV[8]))
  local held = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
  local moved = {}
  for i = 1, #held, 2 do
    moved[#moved + 1] = tonumber(held[i + 1]) + shift
    moved[#moved + 1] = held[i]
  end
  if #moved > 0 then
    call_chunked('ZADD', KEYS[2], 'XX', moved)
  end
end

local recovered = {}
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, limit)
for _, token in ipairs(expired) do
  local entry = redis.call('HGET', KEYS[3], token)
  forget_consumer(ctx, token)
  if entry then
    -- Handed to a consumer that never took it from its inbox (its worker died just before): not a
    -- delivery that was lost, so it does not count towards MAX_DELIVERIES.
    local lost = not untaken_hand_off(ctx, token)
    recovered[#recovered + 1] = token
    recovered[#recovered + 1] = requeue_entry(entry, ctx, lost) or ''
    redis.call('HDEL', KEYS[3], token)
  end
end
if #expired > 0 then
  call_chunked('ZREM', KEYS[2], false, expired)
end

local stop = 0
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[4], now, ARGV[4])
  redis.call('DEL', KEYS[14])
  if #ARGV >= 16 then
    local since = {}
    for i = 16, #ARGV, 2 do
      since[#since + 1] = ARGV[i]
      since[#since + 1] = now - tonumber(ARGV[i + 1])
    end
    call_chunked('HSET', KEYS[14], false, since)
    redis.call('PEXPIRE', KEYS[14], ARGV[12])
  end
  -- Left in the SET until the worker is gone (broker.forget_worker): a lost reply asks again.
  stop = redis.call('SISMEMBER', KEYS[15], ARGV[4])
end
-- Housekeeping that can wait: about once a minute (in the first second of each minute).
if now % 60000 < 1000 then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - 3600000)
  redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now - tonumber(ARGV[7]))
  redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', now - tonumber(ARGV[7]))
  -- An expiry entry goes with its task's final ack; these are of messages long gone (dead letters).
  redis.call('ZREMRANGEBYSCORE', KEYS[11], '-inf', now - tonumber(ARGV[7]))
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[15])) do  -- asked to stop, and died instead
    if not redis.call('ZSCORE', KEYS[4], id) then
      redis.call('SREM', KEYS[15], id)
    end
  end
end
local terminate = {}
if #ARGV >= 16 and redis.call('EXISTS', KEYS[8]) == 1 then
  for i = 16, #ARGV, 2 do
    if redis.call('ZSCORE', KEYS[8], ARGV[i]) then
      terminate[#terminate + 1] = ARGV[i]
    end
  end
end

local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local next_due = false
if #head > 0 then
  next_due = head[2]
end
return { promoted, recovered, next_due, now, terminate, stop }
