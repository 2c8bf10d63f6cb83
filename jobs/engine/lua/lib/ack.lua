-- Settle one delivery: drop its lease and in-flight copy, store its result and announce it.
-- Fencing: a delivery token that is no longer in flight (its lease ran out and another worker took
-- the message, or it was handed back) is refused, and its result is not stored: only the delivery
-- that still holds the lease may finish the task. An empty token means the task was acknowledged
-- when it started (acks_late=False): there is no lease to check, only a result to store.
local function ack(leases, inflight, token, result_key, payload, channel, ttl_ms)
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
  return true
end

-- Apply the acks listed in ARGV from position `at` (3 values each: token, payload, channel), whose
-- result keys are KEYS[key_at ...]. Returns the refused tokens.
local function ack_all(leases, inflight, n, at, key_at, ttl_ms)
  local refused = {}
  for i = 0, n - 1 do
    local a = at + 3 * i
    if not ack(leases, inflight, ARGV[a], KEYS[key_at + i], ARGV[a + 1], ARGV[a + 2], ttl_ms) then
      refused[#refused + 1] = ARGV[a]
    end
  end
  return refused
end
