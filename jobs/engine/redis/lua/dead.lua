--[[
  Move a delivery that cannot be run (undecodable, content type not accepted, a task unknown for too
  long...) to the dead letters, with the reason: never dropped, never retried blindly. The record
  is built from the in-flight copy, so it holds the message exactly as it was queued. A workflow's
  step buried ends its workflow visibly, in the same step (lib/dead.lua, lib/workflow_end.lua).

  KEYS[1] leases
  KEYS[2] inflight
  KEYS[3] dead
  KEYS[4] dead_order
  KEYS[5] history
  KEYS[6] history_dropped
  ARGV[1] token: the delivery token
  ARGV[2] reason
  ARGV[3] worker
  ARGV[4] dead_letters_max
  ARGV[5] history_backlog: HISTORY_BACKLOG (0 = no history)
  ARGV[6] result_ms: result expiry (ms)
  ARGV[7] result_prefix: result key prefix
  ARGV[8] done_prefix: done channel prefix

  Returns { 1 if moved or 0 if the token no longer held it (fenced), number of old entries trimmed }
]]
--@include clock
--@include history
--@include wire
--@include workflow_end
--@include dead

local entry = redis.call('HGET', KEYS[2], ARGV[1])
if not entry then
  return { 0, 0 }
end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
local ctx = { dead = KEYS[3], order = KEYS[4], now = now_ms(), dead_max = tonumber(ARGV[4]),
              hist = { key = KEYS[5], dropped = KEYS[6], max = tonumber(ARGV[5]) },
              ttl = ARGV[6], rp = ARGV[7], cp = ARGV[8] }
local trimmed = bury_entry(ctx, entry, ARGV[2], ARGV[3])
return { 1, trimmed }
