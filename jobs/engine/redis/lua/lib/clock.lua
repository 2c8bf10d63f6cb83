-- Redis's own clock, in ms. Lease deadlines and due times are compared with it, never with a
-- worker's clock, so a worker whose clock runs ahead cannot take other workers' live leases.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A due time or an expiry as a client sends it: '+<ms>' counts from now on Redis's clock (a
-- countdown, a retry's delay, `expires` in seconds), so the sender's clock does not matter;
-- '<ms>' is an absolute unix time (an eta, an expiry given as a datetime).
local function at_ms(spec, now)
  if string.byte(spec, 1) == 43 then  -- '+'
    return now + tonumber(string.sub(spec, 2))
  end
  return tonumber(spec)
end

-- Record when a message expires (the expiries ZSET), unless recorded already: a call repeated
-- after its reply was lost must not move it.
local function record_expiry(key, id, spec, now)
  redis.call('ZADD', key, 'NX', at_ms(spec, now), id)
end
