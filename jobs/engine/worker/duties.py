"""What the supervisor does on a clock, whatever its consumers do: the promises none of them can
keep alone (supervisor.py, points 2 and 3 of its loop).

- the liveness file (runworker --healthcheck-file), touched every turn before any Redis call, so a
  Redis outage never makes a liveness probe restart the worker;
- the worker's record in Redis (what the console shows of it), every minute;
- the leases of everything the consumers hold, and of what was taken back but not yet handed back
  (giveback.py), renewed every LEASE_SECONDS / 3;
- maintain.lua about once a second (MAINTAIN_EVERY), sooner when a scheduled message is due: due
  countdowns onto their queues, expired leases of dead workers back onto theirs, this worker's
  heartbeat and what it runs, and what it is asked to do (terminate, shutdown); with shards, then
  what this shard's acks handed to another (send/forwarder.py).

A Redis that fails holds up none of it for long: the next turn tries again, after a backoff.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Protocol

from ..redis.backoff import Backoff
from ..redis.connection import RETRYABLE
from ..send.forwarder import forward
from ..setup.app import App
from ..version import __version__
from .giveback import GiveBack
from .spec import WorkerOptions
from .watch import Watch

logger = logging.getLogger("jobs.worker")

#: maintain.lua runs at least this often (s).
MAINTAIN_EVERY = 1.0


class Supervised(Protocol):
    """What the duties need of their supervisor (supervisor.py)."""

    app: App
    options: WorkerOptions
    worker_id: str
    size: int
    giveback: GiveBack
    watch: Watch

    def all_held(self) -> list[str]: ...

    def asked_to_stop(self) -> None: ...


class Duties:
    def __init__(self, supervisor: Supervised) -> None:
        self.supervisor = supervisor
        self.backoff = Backoff("supervisor")
        self._next_renew = 0.0
        self._next_maintain = 0.0
        self._next_record = 0.0
        self._started = time.time()
        self._told_alive = False

    def due(self, now: float) -> float:
        """Renew, maintain, heartbeat when due; returns the monotonic time of the next duty."""
        sup = self.supervisor
        self._alive()
        broker = sup.app.broker
        try:
            if now >= self._next_record:
                self._write_record()
                self._next_record = now + 60
            if now >= self._next_renew:
                broker.leases.renew([*sup.all_held(), *sup.giveback.pending])
                self._next_renew = now + sup.app.config.lease_seconds / 3
            if now >= self._next_maintain:
                clock = time.time()
                running = [(task_id, clock - started) for task_id, started in sup.watch.running()]
                result = broker.leases.maintain(sup.worker_id, running)
                if result.shutdown:
                    sup.asked_to_stop()
                if result.recovered:
                    broker.leases.count_redeliveries(len(result.recovered))
                for token, queue in result.recovered:
                    if queue:
                        logger.warning("Delivery %s had lost its lease (its worker died or froze); its task is "
                                       "back on queue %s", token, queue)
                    else:
                        logger.warning("Delivery %s had lost its lease (its worker died or froze); its task went "
                                       "to the dead letters (`manage.py jobs dead list` says why)", token)
                sup.watch.terminate(result.terminate)
                if sup.app.config.shards > 1:
                    forward(sup.app)  # what this shard's acks handed to another (send/forwarder.py)
                wait = MAINTAIN_EVERY
                if result.next_due is not None:
                    wait = min(MAINTAIN_EVERY, max(0.0, result.next_due - time.time()))
                self._next_maintain = now + wait
            self.backoff.ok()
        except RETRYABLE as exc:
            self.backoff.failed(exc)
        return min(self._next_renew, self._next_maintain)

    def _alive(self) -> None:
        """Touch the liveness file (runworker --healthcheck-file): this loop turns. Before any Redis
        call and whatever they do, so a Redis outage never makes a liveness probe restart us."""
        path = self.supervisor.options.healthcheck_file
        if path is None:
            return
        try:
            with open(path, "a"):
                pass
            os.utime(path)
        except OSError as exc:
            if not self._told_alive:
                logger.error("cannot touch the healthcheck file %s: %s", path, exc)
                self._told_alive = True

    def _write_record(self) -> None:
        sup = self.supervisor
        o = sup.options
        record = {"hostname": o.hostname, "pid": os.getpid(), "queues": o.queues, "pool": o.pool,
                  "concurrency": sup.size, "prefetch": o.prefetch, "version": __version__,
                  "started": self._started, "tasks": sorted(sup.app.registry)}
        sup.app.broker.workers.record(sup.worker_id, record)
