--[[
  Enqueue one message of a unique task (@task(unique_for=...), apply_async(unique_key=...)), unless
  a run with the same key is waiting or running: the lock (the key -> the id of the run that holds
  it) is taken and the message enqueued in one step, so two callers racing cannot both enqueue.
  The run's acknowledgement releases the lock when the run ends (lib/ack.lua, `u`); its expiry,
  unique_for, bounds it if the run never ends (dead-lettered, revoked, lost for good).

  KEYS[1] lock
  KEYS[2] scheduled
  KEYS[3] idle
  KEYS[4] leases
  KEYS[5] inflight
  KEYS[6] revoked
  KEYS[7] workers
  KEYS[8] wake: the queue's wake list
  KEYS[9] expiries
  KEYS[10] queue_set: the queues SET
  ARGV[1] id: the message's id
  ARGV[2] lock_ms: lock expiry (ms)
  ARGV[3] queue_prefix: queue key prefix
  ARGV[4] wake_prefix: wake key prefix
  ARGV[5] idle_prefix: idle list prefix
  ARGV[6] inbox_prefix
  ARGV[7] queue
  ARGV[8] score
  ARGV[9] wire
  ARGV[10] due: due time if delayed, else '' (as lib/clock.lua at_ms reads it)
  ARGV[11] expiry: its expiry, else '' (as due)
  ARGV[12] name_queue: '1' to add the queue to the queues SET (the caller's process has not named it
    lately; enqueue.lua)
  ARGV[13] sent_prefix: sent key prefix (as enqueue.lua takes it)
  ARGV[14] dedup_ms: how long an id is remembered (ms; as enqueue.lua takes it)

  As enqueue.lua, a message whose id was sent lately (keys.sent) is left out: a send repeated after
  a lost reply when the first copy has run already and its lock is gone, which the lock alone would
  let in again. The id is remembered only once this message holds the lock: a send refused because
  another run holds it sent nothing.

  Returns the id of the run that holds the lock: this message's if it was enqueued (now, or by the
  send this one repeats), else the other.
]]
--@include wake
--@include clock
--@include wire
--@include deliver

if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local holder = redis.call('GET', KEYS[1])
  if holder then
    return holder
  end
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])  -- it expired in between (cannot, in a script)
end
local id = string.match(ARGV[9], '^%x+|%d+|([^|]*)|')
if id and not redis.call('SET', ARGV[13] .. id, '1', 'NX', 'PX', ARGV[14]) then
  redis.call('DEL', KEYS[1])  -- just taken, for a run that will not happen again
  return ARGV[1]
end
if ARGV[12] == '1' then
  redis.call('SADD', KEYS[10], ARGV[7])
end
local now = nil
if ARGV[10] ~= '' or ARGV[11] ~= '' then
  now = now_ms()
end
if ARGV[11] ~= '' then
  record_expiry(KEYS[9], ARGV[1], ARGV[11], now)
end
local due = ARGV[10] ~= '' and at_ms(ARGV[10], now)
if due and due > now then
  local head = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  redis.call('ZADD', KEYS[2], due, ARGV[8] .. '|' .. ARGV[7] .. '|' .. ARGV[9])
  if #head == 0 or due < tonumber(head[2]) then
    wake(KEYS[8])
  end
else
  local d = { qp = ARGV[3], wp = ARGV[4], ip = ARGV[5], bp = ARGV[6], idle = KEYS[3], leases = KEYS[4],
              inflight = KEYS[5], revoked = KEYS[6], workers = KEYS[7] }
  deliver(d, ARGV[7], ARGV[8], ARGV[9])
end
return ARGV[1]
