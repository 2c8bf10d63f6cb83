"""What a worker says about itself in Redis: its record (monitor.py shows it), and the queues it
serves (the queues SET that lists queues without a SCAN)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.exceptions import NoPermissionError

from ..wire.serializers import json_dumps
from .part import Part
from .specs.leasing import HELLO, HelloArgs, HelloKeys
from .tally import WORKER_KEEP_MS


class Workers(Part):
    """broker.workers: record(), forget(), hello()."""


    def record(self, worker_id: str, record: dict[str, Any]) -> None:
        """What a worker says about itself (monitor.py shows it), for an hour unless said again."""
        self.b.link.call("SET", self.b.keys.worker(worker_id), json_dumps(record), "PX", WORKER_KEEP_MS)

    def forget(self, worker_id: str) -> None:
        """A worker that stops in order leaves no trace behind (its heartbeat, its record, its counts,
        what it ran, a request that it stop)."""
        k = self.b.keys
        self.b.link.pipeline([("DEL", k.worker(worker_id), k.worker_counts(worker_id), k.running(worker_id)),
                            ("ZREM", k.workers, worker_id), ("SREM", k.shutdown, worker_id)])

    def hello(self, worker_id: str, queues: Sequence[str]) -> None:
        """As a worker starts (lua/hello.lua): its first heartbeat, so that its consumers can be handed
        work from their first fetch on, and its queues into the queues SET (keys.py). A Redis whose SET
        is missing (first run of a version that keeps it, or a Redis that lost its data) has it filled
        once from the queue keys there are: the one SCAN of the keyspace, never on a reader's path."""
        link, k = self.b.link, self.b.keys
        names = set(queues)
        if not link.call("EXISTS", k.queues):
            pattern = k.queue_prefix.replace("{", "\\{").replace("}", "\\}") + "*"
            cursor = 0
            try:
                while True:
                    cursor, batch = link.call("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
                    names.update(b.decode()[len(k.queue_prefix):] for b in batch)
                    if int(cursor) == 0:
                        break
            except NoPermissionError:  # a user without SCAN (docs/operations.md): the SET fills as queues are used
                pass
        HELLO(link, HelloKeys(queues=k.queues, workers=k.workers), HelloArgs(worker_id=worker_id,
                                                                               queue_names=sorted(names)))
