--[[
  Put dead letters back on their queues (`manage.py jobs dead requeue`), as new messages: their
  count of lost deliveries starts again from 0. A record without a queue (its message could not even
  be read) stays where it is.

  A workflow's step whose burial ended its workflow (the record says `ended`: lib/dead.lua) is sent
  to run alone: its envelope gets "alone":1 in front, which message.decode reads as "no workflow"
  (no next step, no join counted) and lib/workflow_end.lua as "nothing to end". What would have
  followed it has its REVOKED result already, and keeps it: running the step again must not run its
  followers after all, nor complete a join whose callback is already marked. Inserted as text, so the
  rest of the message stays byte for byte as it was sent.

  KEYS[1] dead
  KEYS[2] dead_order
  KEYS[3] queue_set: the queues SET (a record may be older than it)
  ARGV[1] queue_prefix: queue key prefix
  ARGV[2] wake_prefix: wake key prefix
  ARGV[3 ..] ids

  Returns the ids requeued.
]]
--@include wake

local done = {}
for i = 3, #ARGV do
  local raw = redis.call('HGET', KEYS[1], ARGV[i])
  if raw then
    local record = cjson.decode(raw)
    if record.queue and record.queue ~= '' and record.message then
      local wire = record.message
      local enqueued, rest = string.match(wire, '^(%x+)|%d+|(.*)$')
      if enqueued then
        wire = enqueued .. '|0|' .. rest
        local head, body = string.match(wire, '^([^|]*|[^|]*|[^|]*|[^|]*|){(.*)$')
        if record.ended and head and string.sub(body, 1, 10) ~= '"alone":1,' then
          wire = head .. '{"alone":1,' .. body
        end
      end
      redis.call('ZADD', ARGV[1] .. record.queue, record.score or 9, wire)
      redis.call('SADD', KEYS[3], record.queue)
      wake(ARGV[2] .. record.queue)
      redis.call('HDEL', KEYS[1], ARGV[i])
      redis.call('ZREM', KEYS[2], ARGV[i])
      done[#done + 1] = ARGV[i]
    end
  end
end
return done
