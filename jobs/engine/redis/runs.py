"""Runs: what a consumer does with a delivery it holds, each fenced by its token (the delivery
still holds the task, or nothing is done): mark it started, defer it, take a rate-limit start, bury
it in the dead letters, read it back.
"""

from __future__ import annotations

from ..wire.header import parse_entry
from ..wire.message import Message
from .part import Part
from .specs.consuming import (
    ACK_EARLY,
    DEAD,
    DEFER,
    RATE,
    STARTED,
    AckEarlyArgs,
    AckEarlyKeys,
    DeadArgs,
    DeadKeys,
    DeferArgs,
    DeferKeys,
    RateArgs,
    RateKeys,
    StartedArgs,
    StartedKeys,
)


class Runs(Part):
    """broker.runs: ack_early(), started(), started_attempt(), defer(), rate(), bury(), held()."""


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
