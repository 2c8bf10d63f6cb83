--[[
  A branch of a join ended on another shard: count it here, on the join's home, as the ack of a
  branch of this shard counts it (lib/ack.lua join), and send the callback if this completes it.
  The forwarder calls it (send/forwarder.py) with what the branch's ack handed over (redis/forwards.py);
  the branch is added to the join's set (SADD), so an envelope applied twice, by a forwarder that
  died between the call and its removal, counts once and sends nothing again.

  KEYS[1] done: the join's set of branches done (the `k` of the entry: the call goes to its slot)
  ARGV[1] entry: the join's entry as lib/ack.lua's `c` reads it (JSON), its keys this shard's

  Returns nothing.
]]
--@include wake
--@include clock
--@include history
--@include ack

join(cjson.decode(ARGV[1]))
