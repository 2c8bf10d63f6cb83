--[[
  Settle finished deliveries, then take up to `want` messages for one consumer, in the order of its
  queues (a waiting message in an earlier queue always goes first) and, inside a queue, by priority
  then enqueue time. Each message taken gets a lease and an in-flight copy under a fresh delivery
  token, in this same atomic step: there is no moment at which a message is neither queued nor
  held, so a consumer dying at any point loses nothing (maintain.lua hands it back when the lease
  runs out). Nothing is taken from a paused queue (pause.lua). A message whose id was revoked, or
  whose expiry (Redis's clock) has passed, is not handed out: its result becomes REVOKED here, and
  the history records it with the message; if it is a workflow's step, what would have followed it
  is marked REVOKED too (lib/workflow_end.lua), as when a step goes to the dead letters.

  Scheduled messages that are due are promoted first, so countdowns and retries start on time under
  load; when nothing is taken, the next due time is returned, and an idle consumer sleeps until
  then instead of waiting for the next maintain.lua.

  Idle hand-off (lib/deliver.lua): when nothing is taken and the caller is about to block, it is
  registered as idle, in this same step, so that a producer can hand it the next message directly.
  A registered caller that fetches again (woken some other way) is first unregistered; if a
  producer claimed it in the meantime, the message waiting in its inbox is returned here.

  KEYS[1] leases
  KEYS[2] inflight
  KEYS[3] scheduled
  KEYS[4] revoked: ZSET (id -> time)
  KEYS[5] dead
  KEYS[6] dead_order
  KEYS[7] idle: HASH
  KEYS[8] inbox: this consumer's inbox LIST
  KEYS[9] workers: heartbeats
  KEYS[10] expiries: ZSET (task id -> when it expires, ms)
  KEYS[11] history
  KEYS[12] history_dropped: lib/history.lua
  KEYS[13] stats: what a revoked message counts
  KEYS[14] paused: HASH (queue -> since, pause.lua)
  KEYS[15 .. 14+nq] queues: in precedence order
  KEYS[15+nq .. 14+2nq] wakes: their wake lists
  KEYS[15+2nq ..] results: the result key of each ack, in order
  ARGV, first what stays the same for a consumer (packed once by the caller), then what changes:
  ARGV[1] nq: the number of queues
  ARGV[2] lease_ms: lease length (ms, on Redis's clock)
  ARGV[3] token_prefix: the consumer's id
  ARGV[4] result_ms: result expiry (ms)
  ARGV[5] result_prefix: result key prefix
  ARGV[6] done_prefix: done channel prefix
  ARGV[7] queue_prefix: queue key prefix
  ARGV[8] wake_prefix: wake key prefix
  ARGV[9] dead_letters_max
  ARGV[10] idle_prefix: idle list prefix
  ARGV[11] inbox_prefix
  ARGV[12] worker_id: the consumer's worker id
  ARGV[13] history_backlog: HISTORY_BACKLOG (0 = no history)
  ARGV[14 .. 13+nq] queue_names
  ARGV[14+nq] want
  ARGV[15+nq] first_seq: first token sequence number (token k = prefix .. (first + k - 1))
  ARGV[16+nq] woken: '1' if the caller was woken by a wake token: pass the wake on if work is left
  ARGV[17+nq] registered_seq: the seq it registered idle with ('' = not registered; only its presence
    matters now)
  ARGV[18+nq] register: '1' to register idle if nothing is taken
  ARGV[19+nq] n_acks: the number of acks, n
  ARGV[20+nq .. 19+nq+7n] acks: 7 per ack (see lib/ack.lua)
  ARGV[20+nq+7n] counts: the process's counts for the metrics and the console, or '' (lib/ack.lua
    count: the keys it adds to are named in it)

  Returns { refused ack tokens (each followed by 1/0, see lib/ack.lua), { queue index, wire, token seq, ... },
            { revoked or expired id, task, reason, queue, ... }, next due time (ms) or false (only when
            nothing was taken), now (ms), registered (0/1), { seq, ms until it expires, ... } }
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
--@include ack

local nq = tonumber(ARGV[1])
local lease_ms = tonumber(ARGV[2])
local prefix = ARGV[3]
local ttl_ms = ARGV[4]
local want = tonumber(ARGV[14 + nq])
local first = tonumber(ARGV[15 + nq])
local woken = ARGV[16 + nq] == '1'
local registered_seq = ARGV[17 + nq]
local hist = { key = KEYS[11], dropped = KEYS[12], max = tonumber(ARGV[13]) }
local nacks = tonumber(ARGV[19 + nq])
count(ARGV[20 + nq + 7 * nacks])
local refused = ack_all(KEYS[1], KEYS[2], KEYS[3], nacks, 20 + nq, 15 + 2 * nq, ttl_ms, hist)
local now = now_ms()
local ctx = { qp = ARGV[7], wp = ARGV[8], ip = ARGV[10], bp = ARGV[11], idle = KEYS[7], leases = KEYS[1],
              inflight = KEYS[2], revoked = KEYS[4], workers = KEYS[9], dead = KEYS[5], order = KEYS[6],
              now = now, max_deliveries = 0, dead_max = tonumber(ARGV[9]), hist = hist, rp = ARGV[5], cp = ARGV[6],
              ttl = ttl_ms }

local out = {}
local taken = 0
if registered_seq ~= '' then
  if redis.call('HDEL', KEYS[7], prefix) == 1 then
    for q = 1, nq do
      redis.call('LREM', ARGV[10] .. ARGV[13 + q], 0, prefix)
    end
  else
    -- A producer claimed this consumer: the message it handed over is in the inbox, already leased
    -- under the seq the entry names (the registered one, unless the caller lost track of it).
    local item = redis.call('LPOP', KEYS[8])
    if item then
      local seq, queue, wire = string.match(item, '^(%d+)|([^|]*)|(.*)$')
      for q = 1, nq do
        if ARGV[13 + q] == queue then
          out[#out + 1] = q
        end
      end
      if #out == 0 then
        out[1] = 1  -- a queue this consumer no longer serves: still its message to run
      end
      out[#out + 1] = wire
      out[#out + 1] = tonumber(seq)
      taken = 1
    end
  end
end

promote_due(KEYS[3], ctx, 100)

local revoked = {}
local leases = {}
local entries = {}
local fresh = 0
local left = {}  -- seq, ms until it expires: for the consumer to check again when it starts it
-- One EXISTS tells the common case (nothing revoked, no queue paused) from the rest.
local any_revoked, paused = false, {}
if redis.call('EXISTS', KEYS[4], KEYS[14]) > 0 then
  any_revoked = redis.call('EXISTS', KEYS[4]) == 1
  for q = 1, nq do
    paused[q] = redis.call('HEXISTS', KEYS[14], ARGV[13 + q]) == 1
  end
end
for q = 1, nq do
  while taken < want and not paused[q] do
    local popped = redis.call('ZPOPMIN', KEYS[14 + q], want - taken)
    if #popped == 0 then
      break
    end
    for j = 1, #popped, 2 do
      local wire = popped[j]
      local id, task = nil, nil
      local expiring = has_expiry(wire)
      if any_revoked or expiring then
        id, task = wire_id(wire)
      end
      local why = nil
      if id and any_revoked and redis.call('ZSCORE', KEYS[4], id) then
        why = 'revoked'
      end
      local expires_at = nil
      if id and expiring and not why then
        expires_at = tonumber(redis.call('ZSCORE', KEYS[10], id))
        if expires_at and expires_at <= now then
          why = 'expired before it started'
          redis.call('ZREM', KEYS[10], id)
        end
      end
      if why then
        local doc = cjson.encode({ status = 'REVOKED', reason = why, task = task, id = id, queue = ARGV[13 + q],
          date_done = now / 1000 })
        redis.call('SET', ARGV[5] .. id, doc, 'PX', ttl_ms)
        if hist.max > 0 then
          -- For the history: the message, from which the recorder reads the arguments (redacted).
          record_history(hist, 'r', string.sub(doc, 1, -2) .. ',"message":' .. cjson.encode(wire) .. '}', false)
        end
        redis.call('PUBLISH', ARGV[6] .. id, '1')
        never_run(wire, id, task, 'was not run (' .. why .. ')', ctx)
        redis.call('HINCRBY', KEYS[13], 'c|' .. task .. '|' .. ARGV[13 + q] .. '|REVOKED||', 1)  -- lib/ack.lua count
        revoked[#revoked + 1] = id
        revoked[#revoked + 1] = task
        revoked[#revoked + 1] = why
        revoked[#revoked + 1] = ARGV[13 + q]
      else
        local seq = first + fresh
        local token = prefix .. seq
        fresh = fresh + 1
        taken = taken + 1
        leases[#leases + 1] = now + lease_ms
        leases[#leases + 1] = token
        entries[#entries + 1] = token
        entries[#entries + 1] = popped[j + 1] .. '|' .. ARGV[13 + q] .. '|' .. wire
        out[#out + 1] = q
        out[#out + 1] = wire
        out[#out + 1] = seq
        if expires_at then
          left[#left + 1] = seq
          left[#left + 1] = expires_at - now
        end
      end
    end
  end
end

if fresh > 0 then
  call_chunked('HSET', KEYS[2], false, entries)
  call_chunked('ZADD', KEYS[1], false, leases)
  if woken and taken == want then
    for q = 1, nq do
      if not paused[q] and redis.call('ZCARD', KEYS[14 + q]) > 0 then
        wake(KEYS[14 + nq + q])
      end
    end
  end
end
local next_due = false
local registered = 0
if taken == 0 then
  local head = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  if #head > 0 then
    next_due = head[2]
  end
  if ARGV[18 + nq] == '1' then
    redis.call('HSET', KEYS[7], prefix, first .. '|' .. lease_ms .. '|' .. now .. '|' .. ARGV[12])
    for q = 1, nq do
      local list = ARGV[10] .. ARGV[13 + q]
      redis.call('LREM', list, 0, prefix)
      if not paused[q] then  -- nothing is handed off from a paused queue: it has no idle list
        redis.call('RPUSH', list, prefix)
      end
    end
    registered = 1
  end
end
return { refused, out, revoked, next_due, now, registered, left }
