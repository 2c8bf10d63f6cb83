"""Beat in Redis: which beat leads (a lease, lua/lead.lua), and each periodic run sent once
(lua/beat_send.lua: an idempotency key per periodic task and due time)."""

from __future__ import annotations

from ..wire.message import Message
from . import scripts
from .part import Part
from .sends import wire


class BeatRuns(Part):
    """broker.beat: lead(), resign(), send()."""


    def lead(self, beat_id: str, lease_ms: int) -> int:
        """0 if `beat_id` leads (it took or kept the lease), else the ms left on the leader's."""
        return int(scripts.load("lead")(self.b.link, [self.b.keys.beat_leader()], [beat_id, lease_ms]))

    def resign(self, beat_id: str) -> None:
        scripts.load("beat_resign")(self.b.link, [self.b.keys.beat_leader()], [beat_id])

    def send(self, periodic_id: int, due_ms: int, message: Message) -> bool:
        """Send one run of a periodic task unless it (or a later one) was sent (lua/beat_send.lua)."""
        k = self.b.keys
        keys = [k.beat_sent(), k.idle, k.leases, k.inflight, k.revoked, k.workers, k.expiries, k.queues]
        args = [periodic_id, due_ms, k.queue_prefix, k.wake_prefix, k.idle_prefix, k.inbox_prefix, message.queue,
                message.score, wire(message, self.b.config.message_max_bytes), message.expiry()]
        return bool(scripts.load("beat_send")(self.b.link, keys, args))
