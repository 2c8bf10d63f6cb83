-- Ending a workflow visibly where one of its steps will never be acknowledged: revoked or expired
-- where it is taken (fetch.lua), or moved to the dead letters (lib/dead.lua bury_entry, whoever
-- buries it). No ack will ever advance its workflow then, so what would have followed it is marked
-- here, instead of staying PENDING forever. Needs lib/history.lua.

-- The [id, task] of every step under a workflow node, in workflow.py's wire form (a step {t, id},
-- a chain {s}, a group {g}, a chord {h, b}).
local function steps_of(node, out)
  if node.t then
    out[#out + 1] = { node.id, node.t }
    return
  end
  for _, one in ipairs(node.s or node.g or node.h or {}) do
    steps_of(one, out)
  end
  if node.b then
    steps_of(node.b, out)
  end
end

-- Mark REVOKED what would have followed step task[id] (its message `wire`): the rest of its chain,
-- and, since its join will never complete, the callback of each join it leads to, outwards
-- (workflow.ChordSpec); each result says "not run: a step before it, task[id], <what>", is stored
-- with the result expiry, announced on its done channel and recorded in the history. REVOKED, not
-- FAILURE: these steps were never attempted, as a revoked step is not (a FAILURE is what a step
-- that ran raised, and what follows it: worker/followup.py). Read from the message itself (only
-- one that has a workflow is decoded), so it costs nothing until it is needed.
-- ctx: rp = result key prefix, cp = done channel prefix, ttl = result expiry (ms), now (ms), hist
-- (lib/history.lua). Returns how many steps it marked.
local function never_run(wire, id, task, what, ctx)
  if not (string.find(wire, '"chain":', 1, true) or string.find(wire, '"chord":', 1, true)) then
    return 0
  end
  local ok, env = pcall(cjson.decode, string.match(wire, '^[^|]*|[^|]*|[^|]*|[^|]*|(.*)$') or '')
  if not ok or type(env) ~= 'table' or type(env.o) ~= 'table' or env.alone then
    return 0  -- "alone": a dead letter requeued after its workflow was ended (dead_requeue.lua)
  end
  local out = {}
  for _, node in ipairs(type(env.o.chain) == 'table' and env.o.chain or {}) do
    steps_of(node, out)
  end
  local c = env.o.chord
  while type(c) == 'table' do
    if type(c.cb) == 'table' then
      steps_of(c.cb, out)
    end
    c = c.up
  end
  local reason = 'not run: a step before it, ' .. task .. '[' .. id .. '], ' .. what
  for _, s in ipairs(out) do
    local doc = cjson.encode({ status = 'REVOKED', reason = reason, task = s[2], id = s[1], date_done = ctx.now / 1000,
      parent = id })
    redis.call('SET', ctx.rp .. s[1], doc, 'PX', ctx.ttl)
    redis.call('PUBLISH', ctx.cp .. s[1], '1')
    record_history(ctx.hist, 'r', doc, false)
  end
  return #out
end
