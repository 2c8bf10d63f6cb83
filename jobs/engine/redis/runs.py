"""Runs: what a consumer does with a delivery it holds, each fenced by its token (the delivery
still holds the task, or nothing is done): mark it started, defer it, take a rate-limit start, bury
it in the dead letters, read it back.
"""

from __future__ import annotations

from ..wire.header import parse_entry
from ..wire.message import Message
from . import scripts
from .part import Part


class Runs(Part):
    """broker.runs: ack_early(), started(), started_attempt(), defer(), rate(), bury(), held()."""


    def ack_early(self, token: str) -> bool:
        """Acknowledge an acks_late=False task as it starts (lua/ack_early.lua); False if this
        delivery no longer holds it, and then it must not run."""
        return bool(scripts.load("ack_early")(self.b.link, [self.b.keys.inflight], [token]))

    def started(self, token: str, task_id: str, payload: str, record: bool = True) -> bool:
        """Store STARTED, or a custom state (record=False: not for the history), for a task, only
        while `token` still holds it (see lua/started.lua)."""
        k = self.b.keys
        keys = [k.inflight, k.result(task_id), k.history, k.history_dropped]
        args = [token, payload, self.b.ttl_ms, self.b.history_max if record else 0]
        return bool(scripts.load("started")(self.b.link, keys, args))

    def started_attempt(self, token: str, task_id: str, payload: str, attempt: str,
                        record: bool = True) -> list[bytes] | None:
        """started(), for a task that keeps its attempts: `attempt` is added to its list in the same
        step; returns the list (its enqueue, starts and errors so far, this one last), or None if
        `token` no longer holds the task."""
        k = self.b.keys
        keys = [k.inflight, k.result(task_id), k.history, k.history_dropped, k.attempts(task_id)]
        args = [token, payload, self.b.ttl_ms, self.b.history_max if record else 0, attempt]
        entries = scripts.load("started")(self.b.link, keys, args)
        return list(entries) if entries else None

    def defer(self, token: str, delay: float, message: Message) -> bool:
        """Put a held message back into the scheduled set, due `delay` seconds from now (Redis's clock)."""
        member = message.entry()
        keys = [self.b.keys.leases, self.b.keys.inflight, self.b.keys.scheduled]
        return bool(scripts.load("defer")(self.b.link, keys, [token, f"+{int(delay * 1000)}", member]))

    def rate(self, token: str, message: Message, budgets: list[tuple[str, float]]) -> int:
        """Take a start from every budget (lua/rate.lua): 0 = start now; else the message was put
        back until that due time (ms); -1 = the token no longer held it."""
        member = message.replace(options=message.options.replace(rate_waited=True)).entry()
        k = self.b.keys
        keys = [k.leases, k.inflight, k.scheduled, *(k.rate(name) for name, _ in budgets)]
        args = [token, "1" if message.options.rate_waited else "", member, *(ms for _, ms in budgets)]
        return int(scripts.load("rate")(self.b.link, keys, args))

    def bury(self, token: str, reason: str, worker: str = "") -> tuple[bool, int]:
        """Move a held message to the dead letters. Returns (moved, number of old entries trimmed)."""
        k = self.b.keys
        keys = [k.leases, k.inflight, k.dead, k.dead_order, k.history, k.history_dropped]
        args = [token, reason, worker, self.b.config.dead_letters_max, self.b.history_max, *self.b.ending]
        moved, trimmed = scripts.load("dead")(self.b.link, keys, args)
        return bool(moved), int(trimmed)

    def held(self, token: str) -> tuple[str, bytes] | None:
        """(queue, wire) of the message a delivery token holds, or None once it no longer holds it."""
        entry = self.b.link.call("HGET", self.b.keys.inflight, token)
        if entry is None:
            return None
        _, queue, wire = parse_entry(entry)
        return queue, wire
