"""Leases: a worker's promise that it still runs what it holds (lua/renew.lua), and the maintenance
that takes back what no one renews (lua/maintain.lua, lua/requeue.lua).

A lease is renewed by the worker's supervisor, never by the task; renewal uses ZADD XX, so it can
extend a lease but never re-create one that maintain.lua took away: a worker frozen past its lease
cannot get its task back.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from . import scripts
from .part import Part

#: A worker's running HASH (keys.running) outlives its last maintain.lua by this much (ms): one that was
#: killed stops showing tasks as running within seconds.
RUNNING_KEEP_MS = 10_000


@dataclass(slots=True)
class Maintenance:
    """What one maintain call did (lua/maintain.lua), for the supervisor to log and act on."""

    promoted: int
    recovered: list[tuple[str, str]]  # (token, queue; '' if it went to the dead letters)
    next_due: float | None  # unix time (s) of the next scheduled message
    terminate: list[str]  # ids of the caller's running tasks revoked with terminate=True
    shutdown: bool = False  # the caller was asked to stop (control.shutdown)


class Leases(Part):
    """broker.leases: renew(), confirm(), requeue(), maintain(), count_redeliveries()."""


    def renew(self, tokens: Sequence[str]) -> int:
        """Push the lease deadline of held deliveries forward (lua/renew.lua: never resurrects a
        lease another worker took). Returns how many were still held."""
        if not tokens:
            return 0
        return int(scripts.load("renew")(self.b.link, [self.b.keys.leases], [self.b.lease_ms, "", *tokens]))

    def confirm(self, tokens: Sequence[str]) -> set[str]:
        """Renew these leases now, and say which are no longer held (lua/renew.lua)."""
        if not tokens:
            return set()
        lost = scripts.load("renew")(self.b.link, [self.b.keys.leases], [self.b.lease_ms, "1", *tokens])
        return {t.decode() for t in lost}

    def requeue(self, tokens: Sequence[str], lost: bool = False, forget: bool = True) -> int:
        """Hand deliveries back to their queues now; returns how many were still held. lost=True
        counts them as lost deliveries (a crash), which MAX_DELIVERIES bounds. forget=False keeps
        the consumer's idle registration (it is alive and handing back what it cannot run)."""
        if not tokens:
            return 0
        k = self.b.keys
        keys = [k.leases, k.inflight, k.dead, k.dead_order, k.idle, k.revoked, k.workers, k.history,
                k.history_dropped]
        args = [k.queue_prefix, k.wake_prefix, "1" if lost else "0", self.b.config.max_deliveries,
                self.b.config.dead_letters_max, k.idle_prefix, k.inbox_prefix, "1" if forget else "0",
                self.b.history_max, *self.b.ending, *tokens]
        return int(scripts.load("requeue")(self.b.link, keys, args))

    def count_redeliveries(self, n: int) -> None:
        """Add to the metrics' count of leases that ran out (metrics.py)."""
        self.b.link.call("HINCRBY", self.b.keys.stats, "redeliveries", n)

    def maintain(self, worker_id: str = "", running: Sequence[tuple[str, float]] = (),
                 limit: int = 1000) -> Maintenance:
        """running: (task id, seconds it has run) of each task the worker runs now."""
        k = self.b.keys
        keys = [k.scheduled, k.leases, k.inflight, k.workers, k.dead, k.dead_order, k.revoked, k.terminate,
                k.maintained, k.idle, k.expiries, k.history, k.history_dropped, k.running(worker_id), k.shutdown]
        args = [k.queue_prefix, k.wake_prefix, limit, worker_id, self.b.config.max_deliveries,
                self.b.config.dead_letters_max, self.b.ttl_ms, self.b.lease_ms, k.idle_prefix, k.inbox_prefix,
                self.b.history_max, RUNNING_KEEP_MS, *self.b.ending,
                *(part for task_id, seconds in running for part in (task_id, max(0, int(seconds * 1000))))]
        promoted, recovered, next_due, now, terminate, stop = scripts.load("maintain")(self.b.link, keys, args)
        pairs = [(recovered[i].decode(), recovered[i + 1].decode()) for i in range(0, len(recovered), 2)]
        # The next due time, as an interval on Redis's clock, turned into one on ours.
        wait = (float(next_due) - float(now)) / 1000 if next_due else None
        return Maintenance(int(promoted), pairs, None if wait is None else time.time() + wait,
                           [i.decode() for i in terminate], bool(stop))
