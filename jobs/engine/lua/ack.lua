--[[
  Settle finished deliveries without taking more (the last tasks before a consumer stops, or a task
  acknowledged early, before it ran). See lib/ack.lua for the fencing rule.

  KEYS[1] leases   KEYS[2] inflight   KEYS[3 ..] result keys, one per ack
  ARGV[1] result expiry (ms)   ARGV[2] number of acks   ARGV[3 ..] 3 per ack: token, payload, channel

  Returns the refused tokens.
]]
--@include ack

return ack_all(KEYS[1], KEYS[2], tonumber(ARGV[2]), 3, 3, ARGV[1])
