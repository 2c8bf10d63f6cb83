"""What a shard hands to another (setup/shards.py): the next step of a chain, or a link callback, whose
queue lives on another shard. The ack that settles the step cannot write to another shard (on a
Cluster it is another master), so it adds the message to its own shard's forward set, in the same
atomic step as any follow-up (lib/ack.lua `f`); the supervisor of that shard's worker sends it on
(send/forwarder.py), then removes it. A send is idempotent (enqueue.lua remembers an id sent,
keys.sent), so a forwarder that dies between the two sends it again harmlessly; so is a branch of a
join counted on the join's home shard (joined.lua adds it to a set: counted once).

    {p}:forward        ZSET  envelopes waiting to go to another shard (a message, a result, or a
                             branch of a join that ended here, for the join's home shard)
    {p}:forward:wake   LIST  the ack's wake token (lib/wake.lua); the forwarder empties it
"""

from __future__ import annotations

from typing import Any

from ..wire.serializers import json_dumps
from .part import Part
from .specs.sending import JOINED, JoinedArgs, JoinedKeys


class Forwards(Part):
    """broker.forwards: waiting(), done(); and put_result() on the shard a result goes to."""

    def waiting(self, limit: int) -> list[bytes]:
        k = self.b.keys
        members, _ = self.b.link.pipeline([("ZRANGE", k.forward, 0, limit - 1), ("DEL", k.forward_wake)])
        return list(members)

    def done(self, members: list[bytes]) -> None:
        if members:
            self.b.link.call("ZREM", self.b.keys.forward, *members)

    def put_result(self, task_id: str, payload: str) -> None:
        """A result written on this shard and announced (a chain step that will not run, as
        lib/ack.lua writes it for a step of its own shard). Written again, it changes nothing."""
        k = self.b.keys
        self.b.link.pipeline([("SET", k.result(task_id), payload, "PX", self.b.ttl_ms),
                              ("PUBLISH", k.done(task_id), "1")])

    def joined(self, entry: dict[str, Any]) -> None:
        """A branch of a join that ended on another shard, counted on this one, the join's home; the
        join's callback sent if it completes it (lua/joined.lua). Applied again, it changes nothing."""
        JOINED(self.b.link, JoinedKeys(done=entry["k"]), JoinedArgs(entry=json_dumps(entry)))
