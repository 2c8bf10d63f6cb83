--[[
  Move a message the outbox's relay could not send (Redis refused it for what it holds:
  send/producer.py send_kept) to the dead letters, with the reason: never dropped, never retried
  forever; listed, requeued and discarded as every dead letter is (`manage.py jobs dead`, the
  console). Recorded in the history (REJECTED), and a workflow's step ends its workflow visibly, as
  dead.lua does for a delivery (lib/dead.lua).

  KEYS[1] dead
  KEYS[2] dead_order
  KEYS[3] history
  KEYS[4] history_dropped
  ARGV[1] entry: the message as "score|queue|wire"
  ARGV[2] reason
  ARGV[3] worker: who buried it (the relay)
  ARGV[4] dead_letters_max
  ARGV[5] history_backlog: HISTORY_BACKLOG (0 = no history)
  ARGV[6] result_ms: result expiry (ms)
  ARGV[7] result_prefix: result key prefix
  ARGV[8] done_prefix: done channel prefix

  Returns the number of old dead letters trimmed.
]]
--@include clock
--@include history
--@include wire
--@include workflow_end
--@include dead

local ctx = { dead = KEYS[1], order = KEYS[2], now = now_ms(), dead_max = tonumber(ARGV[4]),
              hist = { key = KEYS[3], dropped = KEYS[4], max = tonumber(ARGV[5]) },
              ttl = ARGV[6], rp = ARGV[7], cp = ARGV[8] }
return bury_entry(ctx, ARGV[1], ARGV[2], ARGV[3])
