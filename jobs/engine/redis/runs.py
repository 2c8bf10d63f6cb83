"""Runs: what a consumer does with a delivery it holds, each fenced by its token (the delivery
still holds the task, or nothing is done): mark it started, defer it, take a rate-limit start or a
concurrency slot, keep a resumable task's checkpoint, bury
it in the dead letters, read it back.
"""

from __future__ import annotations

from ..wire.header import parse_entry
from ..wire.message import Message
from .part import Part
from .specs.consuming import (
    ACK_EARLY,
    CHECKPOINT,
    DEAD,
    DEFER,
    RATE,
    SLOT,
    STARTED,
    AckEarlyArgs,
    AckEarlyKeys,
    CheckpointArgs,
    CheckpointKeys,
    DeadArgs,
    DeadKeys,
    DeferArgs,
    DeferKeys,
    RateArgs,
    RateKeys,
    SlotArgs,
    SlotKeys,
    StartedArgs,
    StartedKeys,
)

#: A slot not taken for this long is swept (lua/slot.lua) once none of its holders has a lease.
SLOT_IDLE_MS = 60_000


class Runs(Part):
    """broker.runs: ack_early(), started(), started_attempt(), defer(), rate(), slot(), checkpoint(),
    cursor(), bury(), held()."""


    def ack_early(self, token: str) -> bool:
        """Acknowledge an acks_late=False task as it starts (lua/ack_early.lua); False if this
        delivery no longer holds it, and then it must not run."""
        return bool(ACK_EARLY(self.b.link, AckEarlyKeys(inflight=self.b.keys.inflight), AckEarlyArgs(token=token)))

    def started(self, token: str, task_id: str, payload: str, record: bool = True) -> bool:
        """Store STARTED, or a custom state (record=False: not for the history), for a task, only
        while `token` still holds it (see lua/started.lua)."""
        k = self.b.keys
        keys = StartedKeys(inflight=k.inflight, result=k.result(task_id), history=k.history,
                           history_dropped=k.history_dropped)
        argv = StartedArgs(token=token, payload=payload, result_ms=self.b.ttl_ms,
                           history_backlog=self.b.history_max if record else 0)
        return bool(STARTED(self.b.link, keys, argv))

    def started_attempt(self, token: str, task_id: str, payload: str, attempt: str,
                        record: bool = True) -> list[bytes] | None:
        """started(), for a task that keeps its attempts: `attempt` is added to its list in the same
        step; returns the list (its enqueue, starts and errors so far, this one last), or None if
        `token` no longer holds the task."""
        k = self.b.keys
        keys = StartedKeys(inflight=k.inflight, result=k.result(task_id), history=k.history,
                           history_dropped=k.history_dropped, attempts=k.attempts(task_id))
        argv = StartedArgs(token=token, payload=payload, result_ms=self.b.ttl_ms,
                           history_backlog=self.b.history_max if record else 0, attempt=attempt)
        entries = STARTED(self.b.link, keys, argv)
        return list(entries) if entries else None

    def defer(self, token: str, delay: float, message: Message) -> bool:
        """Put a held message back into the scheduled set, due `delay` seconds from now (Redis's clock)."""
        member = message.entry(self.b.config.signing_key)
        k = self.b.keys
        keys = DeferKeys(leases=k.leases, inflight=k.inflight, scheduled=k.scheduled)
        return bool(DEFER(self.b.link, keys, DeferArgs(token=token, due=f"+{int(delay * 1000)}", member=member)))

    def rate(self, token: str, message: Message, budgets: list[tuple[str, float]]) -> int:
        """Take a start from every budget (lua/rate.lua): 0 = start now; else the message was put
        back until that due time (ms); -1 = the token no longer held it."""
        member = message.replace(options=message.options.replace(rate_waited=True)).entry(
            self.b.config.signing_key)
        k = self.b.keys
        keys = RateKeys(leases=k.leases, inflight=k.inflight, scheduled=k.scheduled,
                        budgets=[k.rate(name) for name, _ in budgets])
        argv = RateArgs(token=token, waited="1" if message.options.rate_waited else "", member=member,
                        intervals=[ms for _, ms in budgets])
        return int(RATE(self.b.link, keys, argv))

    def rate_budget(self, message: Message, budgets: list[tuple[str, float]]) -> int:
        """rate(), on the shard that keeps the budgets (shard 0) for a message held on another: the
        start taken from every budget (0), else its turn reserved and its due time (ms, by this
        Redis's clock); nothing of the message touched here (runs.defer() puts it back on its own)."""
        k = self.b.keys
        keys = RateKeys(leases=k.leases, inflight=k.inflight, scheduled=k.scheduled,
                        budgets=[k.rate(name) for name, _ in budgets])
        argv = RateArgs(token="", waited="1" if message.options.rate_waited else "", member="",
                        intervals=[ms for _, ms in budgets])
        return int(RATE(self.b.link, keys, argv))

    def slot(self, token: str, message: Message, name: str, limit: int, wait_ms: int) -> int:
        """Take a slot of the concurrency limit `name` (lua/slot.lua): 1 = taken, start now (it is held
        as long as the lease); 0 = the limit is reached, the message was put back for `wait_ms`
        (counted in its slot_waits); -1 = the token no longer held it."""
        waits = message.options.slot_waits
        waited = message.replace(options=message.options.replace(slot=name, slot_waits=waits + 1))
        member = waited.entry(self.b.config.signing_key)  # signed again: its options changed
        k = self.b.keys
        keys = SlotKeys(leases=k.leases, inflight=k.inflight, scheduled=k.scheduled, holders=k.slot(name),
                        slots=k.slots, limits=k.slot_limits)
        argv = SlotArgs(token=token, limit=limit, member=member, due=f"+{wait_ms}", name=name,
                        slot_prefix=k.slot_prefix, idle_ms=SLOT_IDLE_MS)
        return int(SLOT(self.b.link, keys, argv))

    def checkpoint(self, token: str, task_id: str, cursor: str) -> int:
        """Store a resumable task's cursor (JSON) while `token` holds it (lua/checkpoint.lua): 1 =
        stored, 0 = this delivery no longer holds the task, 2 = stored, but the task was revoked."""
        k = self.b.keys
        keys = CheckpointKeys(inflight=k.inflight, cursor=k.cursor(task_id), revoked=k.revoked)
        return int(CHECKPOINT(self.b.link, keys, CheckpointArgs(token=token, cursor=cursor, result_ms=self.b.ttl_ms,
                                                                  id=task_id)))

    def cursor(self, task_id: str) -> bytes | None:
        """A resumable task's last checkpoint (JSON), or None before its first."""
        raw = self.b.link.call("GET", self.b.keys.cursor(task_id))
        return None if raw is None else bytes(raw)

    def bury(self, token: str, reason: str, worker: str = "") -> tuple[bool, int]:
        """Move a held message to the dead letters. Returns (moved, number of old entries trimmed)."""
        k = self.b.keys
        keys = DeadKeys(leases=k.leases, inflight=k.inflight, dead=k.dead, dead_order=k.dead_order, history=k.history,
                        history_dropped=k.history_dropped)
        argv = DeadArgs(token=token, reason=reason, worker=worker, dead_letters_max=self.b.config.dead_letters_max,
                        history_backlog=self.b.history_max, result_ms=self.b.ttl_ms, result_prefix=k.result_prefix,
                        done_prefix=k.done_prefix)
        moved, trimmed = DEAD(self.b.link, keys, argv)
        return bool(moved), int(trimmed)

    def count_bad_signature(self) -> None:
        """One more message refused for its signature (wire/signing.py), for the metrics (ops/metrics.py)."""
        self.b.link.call("HINCRBY", self.b.keys.stats, "bad_signatures", 1)

    def held(self, token: str) -> tuple[str, bytes] | None:
        """(queue, wire) of the message a delivery token holds, or None once it no longer holds it."""
        entry = self.b.link.call("HGET", self.b.keys.inflight, token)
        if entry is None:
            return None
        _, queue, wire = parse_entry(entry)
        return queue, wire
