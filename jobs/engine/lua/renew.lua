--[[
  Push the lease deadline of held deliveries forward, by Redis's clock. XX: a token that lost its
  lease (recovered by maintain.lua, or settled) is not given a new one, so renewal can never
  resurrect a delivery another worker took.

  KEYS[1] leases
  ARGV[1] lease length (ms)   ARGV[2 ..] delivery tokens

  Returns the number of leases renewed.
]]
--@include clock

local deadline = now_ms() + tonumber(ARGV[1])
local renewed = 0
for i = 2, #ARGV, 500 do
  local args = {}
  for j = i, math.min(i + 499, #ARGV) do
    args[#args + 1] = deadline
    args[#args + 1] = ARGV[j]
  end
  renewed = renewed + redis.call('ZADD', KEYS[1], 'XX', 'CH', unpack(args))
end
return renewed
