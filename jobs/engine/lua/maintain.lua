--[[
  Move what is due, run by every worker about once a second so that nothing else needs to run for
  countdowns and crash recovery to work:
  - scheduled messages whose time has come go onto their queues;
  - messages whose lease ran out (their worker died, froze or lost Redis) go back onto their
    queues, counting one more delivery; their old token is dropped, so the old holder is fenced;
  - the caller's heartbeat is recorded, and heartbeats older than an hour are dropped.
  Times are Redis's own (TIME), so workers' clocks do not matter. An entry that cannot be read is
  moved to the dead letters rather than failing the script (which would stop this for everyone).

  KEYS[1] scheduled   KEYS[2] leases   KEYS[3] inflight   KEYS[4] workers   KEYS[5] dead letters
  ARGV[1] queue key prefix   ARGV[2] wake key prefix   ARGV[3] batch limit   ARGV[4] worker id ('' = none)

  Returns { promoted count, { recovered token, queue, ... }, next due time (ms) or false, now (ms) }
]]
--@include wake
--@include requeue
--@include chunks
--@include clock

local now = now_ms()
local limit = tonumber(ARGV[3])

local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)
for _, item in ipairs(due) do
  requeue_entry(item, ARGV[1], ARGV[2], KEYS[5], now, false)
end
if #due > 0 then
  call_chunked('ZREM', KEYS[1], false, due)
end

local recovered = {}
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, limit)
for _, token in ipairs(expired) do
  local entry = redis.call('HGET', KEYS[3], token)
  if entry then
    recovered[#recovered + 1] = token
    recovered[#recovered + 1] = requeue_entry(entry, ARGV[1], ARGV[2], KEYS[5], now, true) or '(dead letters)'
    redis.call('HDEL', KEYS[3], token)
  end
end
if #expired > 0 then
  call_chunked('ZREM', KEYS[2], false, expired)
end

if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[4], now, ARGV[4])
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - 3600000)
end

local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local next_due = false
if #head > 0 then
  next_due = head[2]
end
return { #due, recovered, next_due, now }
