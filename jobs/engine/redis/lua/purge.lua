--[[
  Delete every message waiting on one queue (`manage.py jobs purge`, control.purge). Messages
  in flight, scheduled (countdown, ETA, retry) or in the dead letters are not touched: a purge
  empties what is waiting now, as Celery's does.

  KEYS[1] queue: the queue's ZSET

  Returns the number of messages deleted.
]]

local n = redis.call('ZCARD', KEYS[1])
redis.call('DEL', KEYS[1])
return n
