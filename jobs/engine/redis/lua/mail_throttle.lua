--[[
  The error-email throttle (jobs/mail.py): count a final failure of a task, and say whether a mail
  may go now (one per interval per task, across every worker), with how many failures it stands for.

  KEYS[1] throttle: the throttle key (set while a mail's interval runs)
  KEYS[2] failures: the failures counted since
  ARGV[1] interval_ms: interval (ms)

  Returns the failures the mail stands for (this one included), or 0 if a mail went out less than an
  interval ago (this failure is counted for the next one).
]]
local count = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], 2 * tonumber(ARGV[1]))
if not redis.call('SET', KEYS[1], '1', 'PX', ARGV[1], 'NX') then
  return 0
end
redis.call('DEL', KEYS[2])
return count
