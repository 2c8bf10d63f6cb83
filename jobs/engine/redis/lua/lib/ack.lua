-- Settle one delivery: drop its lease and in-flight copy, store its result and announce it, and,
-- for a retry, schedule the next run, all at once.
-- A task in a workflow (canvas.py; its `extra` built by worker/followup.py) also has `extra`, JSON
-- applied in the same step, so that what follows a task cannot be lost or doubled by a crash
-- between the two:
--   f: messages to send now [{k = queue key (or the scheduled set), w = wake key, s = score (or, if
--      d, its due time as lib/clock.lua at_ms reads it), m = member, d = 1 if delayed, x = [expiries
--      key, id, expiry] or absent, q = [queues SET, queue name] or absent}, ...] (the next step of a
--      chain);
--   r: results to store for other tasks     [[result key, channel, payload], ...] (the steps of a
--      chain that will not run after a failure);
--   c: a branch of a chord done: {k = set key, m = its key in the set, n = size, t = ttl ms, f = the
--      callback's messages as in f, up = for a group without a callback, the join it counts in, as
--      c}; the callback is enqueued by the ack that completes the set, exactly once;
--   u: a unique task's run ended: [lock key, id]; the lock is released if this run still holds it;
--   x: a task sent with `expires` ended: [expiries key, id]; its expiry entry goes;
--   a: an attempt that failed, of a task that keeps its attempts: [attempts key, entry]; the
--      entry (its error) is pushed onto the list.
-- History (lib/history.lua): `hist` is '' (none), or 's' (a success) / 'f' (any other outcome)
-- followed by the document to record, or by '=' for "the result document just stored" (the common
-- case: the worker sends it once). The steps of a chain that will not run are recorded too.
-- Fencing: a delivery token that is no longer in flight (its lease ran out and another worker took
-- the message, or it was handed back) is refused: its result is not stored and no retry is
-- scheduled, so only the delivery that still holds the lease decides what happens next. This holds
-- for acks_late=False tasks too: acknowledged as they start (ack_early.lua), they keep their
-- token in flight until this ack.
-- A retry's next run is due `delay` ms from now by Redis's clock, whatever the worker's clock says.
local function enqueue_now(f)
  local now = nil
  if f.d or f.x then
    now = now_ms()
  end
  if f.x then
    record_expiry(f.x[1], f.x[2], f.x[3], now)
  end
  if f.q then
    redis.call('SADD', f.q[1], f.q[2])  -- the step may go to a queue nothing was sent to before
  end
  if f.d then
    redis.call('ZADD', f.k, at_ms(f.s, now), f.m)  -- promoted at once if already due (lib/promote.lua)
  else
    redis.call('ZADD', f.k, f.s, f.m)
  end
  wake(f.w)
end

-- A branch of a join ended (`c`, worker/followup.py): the ack that completes the set sends the
-- callback's messages, or, for a group without one that something waits for, counts in the join
-- around it (`up`), and so on outwards: a nested workflow advances exactly once, in this one step.
local function join(c)
  while c do
    local added = redis.call('SADD', c.k, c.m)
    redis.call('PEXPIRE', c.k, c.t)
    if added == 0 or redis.call('SCARD', c.k) ~= c.n then
      return
    end
    local fs = c.f or {}
    if fs.k then
      fs = { fs }  -- one callback, as acks of jobs before nested workflows send it
    end
    for _, f in ipairs(fs) do
      enqueue_now(f)
    end
    c = c.up
  end
end

local function workflow(extra, ttl_ms, h)
  local x = cjson.decode(extra)
  for _, r in ipairs(x.r or {}) do
    redis.call('SET', r[1], r[3], 'PX', ttl_ms)
    redis.call('PUBLISH', r[2], '1')
    record_history(h, 'r', r[3], false)
  end
  for _, f in ipairs(x.f or {}) do
    enqueue_now(f)
  end
  local u = x.u
  if u and redis.call('GET', u[1]) == u[2] then
    redis.call('DEL', u[1])
  end
  if x.x then
    redis.call('ZREM', x.x[1], x.x[2])
  end
  if x.a then
    redis.call('RPUSH', x.a[1], x.a[2])
    redis.call('PEXPIRE', x.a[1], ttl_ms)
  end
  join(x.c)
end

-- The counters the metrics and the console read (metrics.py, monitor.py): `batch` is '' or a
-- process's counts since its last batch (metrics.Tally), one line a key:
-- "key\tkeep ms\tfield\tn\tfield\tn...". The keys are built by keys.py and named in the batch,
-- because only the process knows which minute and hour its outcomes fall in (its clock): {p}:stats
-- (all-time, as Prometheus wants; keep 0: no expiry), {p}:minute:<m>, {p}:hour:<h> and the worker's
-- {p}:counts:<id>, each given its expiry again.
local function count(batch)
  if batch and batch ~= '' then
    for key, keep, fields in string.gmatch(batch, '([^\t\n]+)\t(%d+)\t([^\n]+)') do
      for field, n in string.gmatch(fields, '([^\t]+)\t([^\t]+)') do
        redis.call('HINCRBY', key, field, n)
      end
      if keep ~= '0' then
        redis.call('PEXPIRE', key, keep)
      end
    end
  end
end

local function ack(leases, inflight, scheduled, token, result_key, payload, channel, due, member, extra, ttl_ms,
                   hist, h)
  if redis.call('HDEL', inflight, token) == 0 then
    return false
  end
  redis.call('ZREM', leases, token)
  if payload ~= '' then
    redis.call('SET', result_key, payload, 'PX', ttl_ms)
    redis.call('PUBLISH', channel, '1')
  end
  if hist ~= '' then
    local doc = string.sub(hist, 2)
    record_history(h, 'r', doc == '=' and payload or doc, string.byte(hist) == 115)  -- 's'
  end
  if member ~= '' then
    redis.call('ZADD', scheduled, now_ms() + tonumber(due), member)
  end
  if extra ~= '' then
    workflow(extra, ttl_ms, h)
  end
  return true
end

-- Apply the acks listed in ARGV from position `at` (7 values each: token, payload, channel,
-- retry delay (ms), retry member, workflow extra, history), whose result keys are KEYS[key_at ...].
-- Returns the refused tokens, each followed by 1 if the task has a stored result (another
-- worker's; or, for an ack sent again after its reply was lost, this one's first attempt) else 0:
-- an ack retried after a Redis restart without persistence finds neither, and says so.
local function ack_all(leases, inflight, scheduled, n, at, key_at, ttl_ms, h)
  local refused = {}
  for i = 0, n - 1 do
    local a = at + 7 * i
    if not ack(leases, inflight, scheduled, ARGV[a], KEYS[key_at + i], ARGV[a + 1], ARGV[a + 2],
               ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ttl_ms, ARGV[a + 6], h) then
      refused[#refused + 1] = ARGV[a]
      refused[#refused + 1] = redis.call('EXISTS', KEYS[key_at + i])
    end
  end
  return refused
end
