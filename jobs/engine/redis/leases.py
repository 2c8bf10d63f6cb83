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

from .part import Part
from .specs.leasing import (
    MAINTAIN,
    RENEW,
    REQUEUE,
    MaintainArgs,
    MaintainKeys,
    RenewArgs,
    RenewKeys,
    RequeueArgs,
    RequeueKeys,
)

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
        argv = RenewArgs(lease_ms=self.b.lease_ms, report_lost="", tokens=tokens)
        return int(RENEW(self.b.link, RenewKeys(leases=self.b.keys.leases), argv))

    def confirm(self, tokens: Sequence[str]) -> set[str]:
        """Renew these leases now, and say which are no longer held (lua/renew.lua)."""
        if not tokens:
            return set()
        argv = RenewArgs(lease_ms=self.b.lease_ms, report_lost="1", tokens=tokens)
        lost = RENEW(self.b.link, RenewKeys(leases=self.b.keys.leases), argv)
        return {t.decode() for t in lost}

    def requeue(self, tokens: Sequence[str], lost: bool = False, forget: bool = True) -> int:
        """Hand deliveries back to their queues now; returns how many were still held. lost=True
        counts them as lost deliveries (a crash), which MAX_DELIVERIES bounds. forget=False keeps
        the consumer's idle registration (it is alive and handing back what it cannot run)."""
        if not tokens:
            return 0
        k = self.b.keys
        keys = RequeueKeys(leases=k.leases, inflight=k.inflight, dead=k.dead, dead_order=k.dead_order, idle=k.idle,
                           revoked=k.revoked, workers=k.workers, history=k.history, history_dropped=k.history_dropped)
        argv = RequeueArgs(queue_prefix=k.queue_prefix, wake_prefix=k.wake_prefix, lost="1" if lost else "0",
                           max_deliveries=self.b.config.max_deliveries,
                           dead_letters_max=self.b.config.dead_letters_max, idle_prefix=k.idle_prefix,
                           inbox_prefix=k.inbox_prefix, forget="1" if forget else "0",
                           history_backlog=self.b.history_max, result_ms=self.b.ttl_ms,
                           result_prefix=k.result_prefix, done_prefix=k.done_prefix, tokens=tokens)
        return int(REQUEUE(self.b.link, keys, argv))

    def count_redeliveries(self, n: int) -> None:
        """Add to the metrics' count of leases that ran out (metrics.py)."""
        self.b.link.call("HINCRBY", self.b.keys.stats, "redeliveries", n)

    def maintain(self, worker_id: str = "", running: Sequence[tuple[str, float]] = (),
                 limit: int = 1000) -> Maintenance:
        """running: (task id, seconds it has run) of each task the worker runs now."""
        k = self.b.keys
        keys = MaintainKeys(scheduled=k.scheduled, leases=k.leases, inflight=k.inflight, workers=k.workers,
                            dead=k.dead, dead_order=k.dead_order, revoked=k.revoked, terminate=k.terminate,
                            last_run=k.maintained, idle=k.idle, expiries=k.expiries, history=k.history,
                            history_dropped=k.history_dropped, running=k.running(worker_id), shutdown=k.shutdown)
        argv = MaintainArgs(queue_prefix=k.queue_prefix, wake_prefix=k.wake_prefix, limit=limit, worker_id=worker_id,
                            max_deliveries=self.b.config.max_deliveries,
                            dead_letters_max=self.b.config.dead_letters_max, revoked_ms=self.b.ttl_ms,
                            lease_ms=self.b.lease_ms, idle_prefix=k.idle_prefix, inbox_prefix=k.inbox_prefix,
                            history_backlog=self.b.history_max, running_ms=RUNNING_KEEP_MS, result_ms=self.b.ttl_ms,
                            result_prefix=k.result_prefix, done_prefix=k.done_prefix,
                            running=[part for task_id, seconds in running
                                     for part in (task_id, max(0, int(seconds * 1000)))])
        promoted, recovered, next_due, now, terminate, stop = MAINTAIN(self.b.link, keys, argv)
        pairs = [(recovered[i].decode(), recovered[i + 1].decode()) for i in range(0, len(recovered), 2)]
        # The next due time, as an interval on Redis's clock, turned into one on ours.
        wait = (float(next_due) - float(now)) / 1000 if next_due else None
        return Maintenance(int(promoted), pairs, None if wait is None else time.time() + wait,
                           [i.decode() for i in terminate], bool(stop))
