--[[
  Take or keep beat leadership: one beat at a time sends periodic tasks. The leader renews its
  lease every tick; when it stops renewing (it died, or lost Redis), the lease runs out and the
  next beat to ask becomes the leader.

  KEYS[1] leader key   ARGV[1] this beat's id   ARGV[2] lease (ms)
  Returns 0 if this beat leads (now until the lease runs out), else the lease's remaining ms, so
  that a follower asks again the moment it runs out rather than up to a tick later.
]]
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 0
end
if not holder and redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 0
end
return math.max(redis.call('PTTL', KEYS[1]), 1)
