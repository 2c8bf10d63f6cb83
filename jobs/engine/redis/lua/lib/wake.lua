-- Leave one token on a queue's wake list, so that one idle worker blocked on it (BLPOP) gets up.
-- One token is enough: a worker woken with work left over passes the wake on (see fetch.lua), and
-- a worker that is not idle fetches before it ever blocks, so a token cannot be missed.
local function wake(key)
  if redis.call('LLEN', key) == 0 then
    redis.call('RPUSH', key, '1')
  end
end
