-- The history's backlog: what happened to tasks, waiting for a worker's recorder to write it to the
-- database (history.py). A Redis stream read through a consumer group, so a record is deleted only
-- once it is in the database, and a recorder killed mid-batch leaves its records to another.
--
-- h = { key = the stream, dropped = HASH of what was not recorded, max = HISTORY_BACKLOG, 0 = off }
-- field: 'r' a result document (with "message", the wire, when no worker read the message: it was
-- revoked or expired when taken); 'x' a dead letter's record.
-- Bounded, with successes given up first: at `max` records waiting (the database is away, or the
-- recorders cannot keep up) a success is counted in h.dropped instead; anything else is kept until
-- twice that, then counted too. The recorders log the counts, and `jobs status` shows them.
local function record_history(h, field, doc, success)
  if h.max == 0 then
    return
  end
  -- Asked once per script call, then counted here: a fetch settling a batch of acks asks once.
  local waiting = h.waiting or redis.call('XLEN', h.key)
  if waiting >= 2 * h.max or (success and waiting >= h.max) then
    h.waiting = waiting
    redis.call('HINCRBY', h.dropped, success and 'success' or 'other', 1)
    return
  end
  redis.call('XADD', h.key, '*', field, doc)
  h.waiting = waiting + 1
end
