-- Deliver a ready message: straight to a consumer idle on its queue if there is one, else onto
-- the queue's sorted set, waking an idle worker.
--
-- Hand-off: a consumer that found its queues empty registered itself (fetch.lua) in the idle
-- HASH (id -> "next token seq|lease ms|registered at ms") and in each queue's idle LIST, and now
-- blocks on its inbox. Handing a message to it is what a fetch would do, done here: lease and
-- in-flight copy under the consumer's next token, then the message into its inbox, where BLPOP
-- returns it at once. An idle task starts one round trip (and one wake-up of Redis) sooner, and
-- nothing changes for the guarantees: the message is leased to that consumer exactly as if it had
-- fetched it. A registration is claimed by deleting it, so two producers cannot claim one
-- consumer; a stale one (older than 8 s: a blocked consumer renews it every 5 s, so its consumer
-- died or stopped) is dropped, not used.
-- A registration is used only if its worker's heartbeat (maintain.lua, every second) is less than
-- 3 s old: a worker killed with kill -9 leaves registrations behind, and a message handed to one
-- of them would wait for its lease to run out. A message whose id was revoked is never handed
-- off: the fetch that takes it marks it REVOKED.
--
-- d: { qp, wp, ip (idle list prefix), bp (inbox prefix), idle, leases, inflight, revoked, workers }
local function is_revoked(d, wire)
  if d.any_revoked == nil then
    d.any_revoked = redis.call('EXISTS', d.revoked) == 1
  end
  if not d.any_revoked then
    return false
  end
  local id = wire_id(wire)
  return id ~= nil and redis.call('ZSCORE', d.revoked, id) ~= false
end

-- A message sent with `expires` is not handed off: the fetch that takes it from its queue checks
-- its expiry (lua/fetch.lua). The marker is its envelope's "xp" key (message.py); user data can
-- only make this true by mistake, which costs the message its hand-off, nothing else.
local function has_expiry(wire)
  return string.find(wire, '"xp":', 1, true) ~= nil
end

-- Returns true if handed off; else false, and whether any registration was found (all stale).
local function hand_off(d, queue, score, wire)
  local list = d.ip .. queue
  local seen = false
  while true do
    local id = redis.call('LPOP', list)
    if not id then
      return false, seen
    end
    seen = true
    local registration = redis.call('HGET', d.idle, id)
    if registration then
      redis.call('HDEL', d.idle, id)
      local seq, lease_ms, since, worker = string.match(registration, '^(%d+)|(%d+)|(%d+)|(.*)$')
      if not d.now then
        d.now = now_ms()
      end
      local beat = worker and redis.call('ZSCORE', d.workers, worker)
      if seq and d.now - tonumber(since) <= 8000 and beat and d.now - tonumber(beat) <= 3000 then
        local token = id .. seq
        local inbox = d.bp .. id
        redis.call('HSET', d.inflight, token, score .. '|' .. queue .. '|' .. wire)
        redis.call('ZADD', d.leases, d.now + tonumber(lease_ms), token)
        -- The entry carries its token's seq: a consumer that lost track of a registration
        -- (the reply to the call that made it was lost) still settles the right delivery.
        redis.call('RPUSH', inbox, seq .. '|' .. queue .. '|' .. wire)
        redis.call('PEXPIRE', inbox, 60000)  -- the copy left by a consumer that died goes away
        return true
      end
    end
  end
end

-- Every consumer that blocks is registered idle first, so with no registration there is nobody
-- to wake: the next fetch of a busy consumer takes the message. Only when registrations were seen
-- but none could be used is a wake token left, in case a consumer is blocked all the same.
local function deliver(d, queue, score, wire, no_hand_off)
  local handed, seen = false, true
  if not no_hand_off and not is_revoked(d, wire) and not has_expiry(wire) then
    handed, seen = hand_off(d, queue, score, wire)
  end
  if handed then
    return
  end
  redis.call('ZADD', d.qp .. queue, score, wire)
  if seen then
    wake(d.wp .. queue)
  end
end

-- Whether a delivery was handed off (hand_off) and is still in its consumer's inbox, never taken:
-- then the entry is removed from the inbox. A producer can hand a message to a consumer whose
-- worker was killed a moment ago (its heartbeat is younger than 3 s); such a message has not been
-- delivered to anyone.
local function untaken_hand_off(d, token)
  local id, seq = string.match(token, '^(.-)(%d+)$')
  if not id then
    return false
  end
  local inbox = d.bp .. id
  for _, item in ipairs(redis.call('LRANGE', inbox, 0, -1)) do
    if string.sub(item, 1, #seq + 1) == seq .. '|' then
      redis.call('LREM', inbox, 1, item)
      return true
    end
  end
  return false
end

-- The consumer a delivery token belongs to is gone (its lease ran out, or its supervisor hands
-- its work back): drop its idle registration, so nothing more is handed to it.
local function forget_consumer(d, token)
  local id = string.match(token, '^(.-)%d+$')
  if id then
    redis.call('HDEL', d.idle, id)
  end
end
