--[[
  Push the lease deadline of held deliveries forward, by Redis's clock. A token that lost its lease
  (recovered by maintain.lua, or settled) is not given a new one, so renewal can never resurrect a
  delivery another worker took.

  KEYS[1] leases
  ARGV[1] lease_ms: lease length (ms)
  ARGV[2] report_lost: '1' to return the tokens that were not renewed
  ARGV[3 ..] tokens: delivery tokens

  Returns the number of leases renewed, or (ARGV[2] = '1') the tokens that no longer hold one: a
  consumer asks so before it starts a delivery that waited in its buffer (worker/consumer.py).
]]
--@include clock

local deadline = now_ms() + tonumber(ARGV[1])
if ARGV[2] == '1' then
  local lost = {}
  for i = 3, #ARGV do
    if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
      redis.call('ZADD', KEYS[1], 'XX', deadline, ARGV[i])
    else
      lost[#lost + 1] = ARGV[i]
    end
  end
  return lost
end
local renewed = 0
for i = 3, #ARGV, 500 do
  local args = {}
  for j = i, math.min(i + 499, #ARGV) do
    args[#args + 1] = deadline
    args[#args + 1] = ARGV[j]
  end
  renewed = renewed + redis.call('ZADD', KEYS[1], 'XX', 'CH', unpack(args))
end
return renewed
