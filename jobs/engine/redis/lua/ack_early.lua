--[[
  Acknowledge a task with acks_late=False as it starts (at most once): its in-flight entry is
  marked "!" and it keeps its lease while it runs, so that
  - a worker that lost its lease before it could start (it froze; another worker took the task)
    is refused here and does not run it: no second run;
  - if its worker dies while it runs, the lease runs out and lib/requeue.lua moves it to the dead
    letters instead of its queue: never run twice, never lost without a trace;
  - its end is acknowledged with the same token, fenced like any other ack;
  - a call repeated after its reply was lost finds the mark and says yes again.

  KEYS[1] inflight
  ARGV[1] token: the delivery token

  Returns 1 if this delivery holds the task (now marked), 0 if it no longer does.
]]
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if not entry then
  return 0
end
if string.sub(entry, 1, 1) ~= '!' then
  redis.call('HSET', KEYS[1], ARGV[1], '!' .. entry)
end
return 1
