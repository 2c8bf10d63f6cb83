--[[
  Pause a queue, cluster-wide (`manage.py jobs pause`, control.pause): no worker takes from it
  until resume.lua. Its messages stay where they are, senders and beat go on adding to it, and
  what is running goes on to the end.

  Two ways a message leaves a queue, both closed here: a fetch (fetch.lua skips a queue named in
  the paused HASH, in the same step that would pop it) and a hand-off to an idle consumer
  (lib/deliver.lua, through the queue's idle list: deleted here, and fetch.lua no longer
  registers anyone on it while the queue is paused). A message handed off before this call is
  already leased to its consumer, and runs.

  KEYS[1] paused: HASH (queue -> paused since, ms)
  KEYS[2] idle_list: the queue's idle list
  ARGV[1] name: the queue's name

  Returns 1 if the queue was running, 0 if it was paused already (its "since" is kept).
]]
--@include clock

local added = redis.call('HSETNX', KEYS[1], ARGV[1], now_ms())
redis.call('DEL', KEYS[2])
return added
