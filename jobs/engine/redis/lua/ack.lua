--[[
  Settle deliveries without taking more (the last tasks before a consumer stops, a task
  acknowledged before it ran, a task the supervisor failed). See lib/ack.lua for the fencing rule.

  KEYS[1] leases
  KEYS[2] inflight
  KEYS[3] scheduled
  KEYS[4] history
  KEYS[5] history_dropped
  KEYS[6 ..] results: the result key of each ack, in order
  ARGV[1] result_ms: result expiry (ms)
  ARGV[2] history_backlog: HISTORY_BACKLOG (0 = no history)
  ARGV[3] n_acks: the number of acks, n
  ARGV[4 .. 3+7n] acks: 7 per ack: token, payload, channel, retry delay (ms), retry member ('' = none),
    workflow extra ('' = none), history ('' = none; see lib/ack.lua)
  ARGV[4+7n] counts: the process's counts for the metrics and the console, or '' (lib/ack.lua count:
    the keys it adds to are named in it)

  Returns the refused tokens, each followed by 1/0: whether the task has a stored result.
]]
--@include wake
--@include clock
--@include history
--@include ack

local h = { key = KEYS[4], dropped = KEYS[5], max = tonumber(ARGV[2]) }
local n = tonumber(ARGV[3])
count(ARGV[4 + 7 * n])
return ack_all(KEYS[1], KEYS[2], KEYS[3], n, 4, 6, ARGV[1], h)
