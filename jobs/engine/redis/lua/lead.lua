--[[
  Take or keep a role only one process may have at a time: beat leadership (one beat sends
  periodic tasks), and the history's pruning (one recorder deletes old rows, history.py). The holder
  renews its lease as it goes on; when it stops renewing (it died, or lost Redis), the lease runs
  out and the next one to ask takes the role.

  KEYS[1] role: the role's key
  ARGV[1] holder: the caller's id
  ARGV[2] lease_ms: lease (ms)

  Returns 0 if the caller has the role (now until the lease runs out), else the lease's remaining
  ms, so that a beat follower asks again the moment it runs out rather than up to a tick later.
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
