-- Put an in-flight or scheduled entry ("score|queue|wire") back on its queue. The enqueue time is
-- kept, so the message goes back to the head of its priority, not the tail.
--
-- count = true when the delivery that ends was lost (its lease ran out, its process died): the
-- count in the wire header ("enqueued|deliveries|...") goes up, and a message lost MAX_DELIVERIES
-- times goes to the dead letters instead, so a task that kills its worker cannot loop forever.
-- An entry that cannot be read also goes to the dead letters: one bad entry must never make the
-- script fail, or every worker's maintenance would fail with it. So does a running acks_late=False
-- task ("!" entry) whose worker was lost: it was acknowledged as it started.
--
-- ctx: what lib/deliver.lua needs (qp, wp, ip, bp, idle, leases, inflight, revoked), and dead,
--      order, now, max_deliveries, dead_max, hist (lib/dead.lua).
-- Returns the queue's name, or false if the entry went to the dead letters.
local function requeue_entry(entry, ctx, count)
  if string.sub(entry, 1, 1) == '!' then
    -- acks_late=False (ack_early.lua): acknowledged when it started, so it never runs again.
    bury_entry(ctx, string.sub(entry, 2), 'acks_late=False: its worker stopped or died while it ran, so it is '
      .. 'not run again (at most once); requeue it if it is safe to run twice', '')
    return false
  end
  local score, queue, wire = split_entry(entry)
  if not score then
    bury_entry(ctx, entry, 'unreadable entry (no score|queue| prefix)', '')
    return false
  end
  if count then
    local enqueued, deliveries, rest = string.match(wire, '^(%x+)|(%d+)|(.*)$')
    if enqueued then
      local lost = tonumber(deliveries) + 1
      if ctx.max_deliveries > 0 and lost >= ctx.max_deliveries then
        bury_entry(ctx, entry, 'delivered ' .. lost .. ' times without finishing (MAX_DELIVERIES): its worker '
          .. 'died or lost its lease each time', '')
        return false
      end
      wire = enqueued .. '|' .. lost .. '|' .. rest
    end -- else: not our header; the worker that takes it will move it to the dead letters
  end
  -- A lost message goes back to its queue, not to an idle consumer: if it was lost because
  -- consumers are dying, the next may be dying too, and each loss counts towards MAX_DELIVERIES.
  deliver(ctx, queue, score, wire, count)
  return queue
end
