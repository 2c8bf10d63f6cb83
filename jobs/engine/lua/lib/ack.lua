-- Settle one delivery: drop its lease and in-flight copy, store its result and announce it, and,
-- for a retry, schedule the next run, all at once.
-- Fencing: a delivery token that is no longer in flight (its lease ran out and another worker took
-- the message, or it was handed back) is refused: its result is not stored and no retry is
-- scheduled, so only the delivery that still holds the lease decides what happens next. An empty
-- token means the task was acknowledged when it started (acks_late=False): nothing to check.
local function ack(leases, inflight, scheduled, token, result_key, payload, channel, due, member, ttl_ms)
  if token ~= '' then
    if redis.call('HDEL', inflight, token) == 0 then
      return false
    end
    redis.call('ZREM', leases, token)
  end
  if payload ~= '' then
    redis.call('SET', result_key, payload, 'PX', ttl_ms)
    redis.call('PUBLISH', channel, '1')
  end
  if member ~= '' then
    redis.call('ZADD', scheduled, due, member)
  end
  return true
end

-- Apply the acks listed in ARGV from position `at` (5 values each: token, payload, channel,
-- retry due time (ms), retry member), whose result keys are KEYS[key_at ...]. Returns the refused
-- tokens.
local function ack_all(leases, inflight, scheduled, n, at, key_at, ttl_ms)
  local refused = {}
  for i = 0, n - 1 do
    local a = at + 5 * i
    if not ack(leases, inflight, scheduled, ARGV[a], KEYS[key_at + i], ARGV[a + 1], ARGV[a + 2],
               ARGV[a + 3], ARGV[a + 4], ttl_ms) then
      refused[#refused + 1] = ARGV[a]
    end
  end
  return refused
end
