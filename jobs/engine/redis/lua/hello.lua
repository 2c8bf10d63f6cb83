--[[
  A worker says it is here, as it starts and before its consumers' first fetch: its queues into
  the queues SET (keys.py) and its first heartbeat. A consumer that finds its queues empty
  registers idle at once (fetch.lua), and a producer hands it a message only if its worker's
  heartbeat is fresh (lib/deliver.lua); maintain.lua writes the next ones, about once a second,
  but its first run comes after the consumers have started (it costs 5-17 ms they need not wait
  for). Without this heartbeat a task sent in that first moment went to the queue instead, one
  wake-up later.

  KEYS[1] queues: SET of queue names
  KEYS[2] workers: heartbeats
  ARGV[1] worker_id
  ARGV[2 ..] queue_names: the queues it serves
]]
--@include clock

redis.call('ZADD', KEYS[2], now_ms(), ARGV[1])
if #ARGV > 1 then
  redis.call('SADD', KEYS[1], unpack(ARGV, 2))
end
return 1
