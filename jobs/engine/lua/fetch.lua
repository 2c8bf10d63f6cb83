--[[
  Settle finished deliveries, then take up to `want` messages for one consumer, in the order of its
  queues (a waiting message in an earlier queue always goes first) and, inside a queue, by priority
  then enqueue time. Each message taken gets a lease and an in-flight copy under a fresh delivery
  token, in this same atomic step: there is no moment at which a message is neither queued nor
  held, so a consumer dying at any point loses nothing (maintain.lua hands it back when the lease
  runs out).

  KEYS[1]                 leases    ZSET  token -> lease deadline (ms)
  KEYS[2]                 inflight  HASH  token -> "score|queue|wire"
  KEYS[3 .. 2+nq]         queues, in precedence order
  KEYS[3+nq .. 2+2nq]     their wake lists
  KEYS[3+2nq .. ]         result keys, one per ack
  ARGV[1] nq   ARGV[2] want   ARGV[3] lease length (ms, from Redis's clock)   ARGV[4] token prefix
  ARGV[5] first token sequence number (token k = prefix .. (first + k - 1))
  ARGV[6] '1' if the caller was woken by a wake token: pass the wake on if work is left
  ARGV[7] result expiry (ms)   ARGV[8] number of acks   ARGV[9 .. 8+nq] queue names
  ARGV[9+nq ..]           3 per ack: token ('' = acknowledged at start), payload ('' = no result),
                          done channel

  Returns { refused ack tokens, { queue index, wire, queue index, wire, ... } }
]]
--@include wake
--@include ack
--@include chunks
--@include clock

local nq = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local n_acks = tonumber(ARGV[8])
local refused = ack_all(KEYS[1], KEYS[2], n_acks, 9 + nq, 3 + 2 * nq, ARGV[7])

local out = {}
local leases = {}
local entries = {}
local taken = 0
local prefix = ARGV[4]
local first = tonumber(ARGV[5])
local deadline = nil
for q = 1, nq do
  if taken >= want then
    break
  end
  local popped = redis.call('ZPOPMIN', KEYS[2 + q], want - taken)
  if #popped > 0 and not deadline then
    deadline = now_ms() + tonumber(ARGV[3])
  end
  for j = 1, #popped, 2 do
    local token = prefix .. (first + taken)
    taken = taken + 1
    leases[#leases + 1] = deadline
    leases[#leases + 1] = token
    entries[#entries + 1] = token
    entries[#entries + 1] = popped[j + 1] .. '|' .. ARGV[8 + q] .. '|' .. popped[j]
    out[#out + 1] = q
    out[#out + 1] = popped[j]
  end
end

if taken > 0 then
  call_chunked('HSET', KEYS[2], false, entries)
  call_chunked('ZADD', KEYS[1], false, leases)
  if ARGV[6] == '1' and taken == want then
    for q = 1, nq do
      if redis.call('ZCARD', KEYS[2 + q]) > 0 then
        wake(KEYS[2 + nq + q])
      end
    end
  end
end
return { refused, out }
