-- Redis's own clock, in ms. Lease deadlines and due times are compared with it, never with a
-- worker's clock, so a worker whose clock runs ahead cannot take other workers' live leases.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
