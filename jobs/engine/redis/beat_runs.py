"""Beat in Redis: which beat leads (a lease, lua/lead.lua), and each periodic run sent once
(lua/beat_send.lua: an idempotency key per periodic task and due time)."""

from __future__ import annotations

from ..wire.message import Message
from .part import Part
from .replicas import wait_ms
from .sends import wire
from .specs.operating import BEAT_RESIGN, LEAD, BeatResignArgs, BeatResignKeys, LeadArgs, LeadKeys
from .specs.sending import BEAT_SEND, BeatSendArgs, BeatSendKeys


class BeatRuns(Part):
    """broker.beat: lead(), resign(), send()."""


    def lead(self, beat_id: str, lease_ms: int) -> int:
        """0 if `beat_id` leads (it took or kept the lease), else the ms left on the leader's."""
        argv = LeadArgs(holder=beat_id, lease_ms=lease_ms)
        return int(LEAD(self.b.link, LeadKeys(role=self.b.keys.beat_leader()), argv))

    def resign(self, beat_id: str) -> None:
        BEAT_RESIGN(self.b.link, BeatResignKeys(leader=self.b.keys.beat_leader()), BeatResignArgs(beat_id=beat_id))

    def send(self, periodic_id: int, due_ms: int, message: Message) -> bool:
        """Send one run of a periodic task unless it (or a later one) was sent (lua/beat_send.lua)."""
        k = self.b.keys
        keys = BeatSendKeys(sent=k.beat_sent(), idle=k.idle, leases=k.leases, inflight=k.inflight, revoked=k.revoked,
                            workers=k.workers, expiries=k.expiries, queue_set=k.queues)
        argv = BeatSendArgs(periodic_id=periodic_id, due_ms=due_ms, queue_prefix=k.queue_prefix,
                            wake_prefix=k.wake_prefix, idle_prefix=k.idle_prefix, inbox_prefix=k.inbox_prefix,
                            queue=message.queue, score=message.score,
                            wire=wire(message, self.b.config), expiry=message.expiry())
        # Durable as ENQUEUE_REPLICAS asks (replicas.py): a run whose send a failover lost would never
        # happen; one not confirmed raises, and beat sends it again at its next tick (once: beat_send.lua).
        return bool(BEAT_SEND.durably(self.b.link, keys, argv, self.b.config.enqueue_replicas,
                                      wait_ms(self.b.config.enqueue_timeout)))
