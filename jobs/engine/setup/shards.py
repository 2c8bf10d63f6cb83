"""Which shard a queue lives on (JOBS["SHARDS"], JOBS["QUEUE_SHARD"]).

A shard is a whole copy of jobs' keyspace under its own hash tag (redis/keys.py), served exactly as
a single Redis is: one Broker per shard, the same Lua scripts. On a Redis Cluster each shard's keys
sit in one slot, so the shards spread over the masters, and the Redis cost of the site with them.

A queue's shard is QUEUE_SHARD's word for it, else crc32 of its name modulo SHARDS: stable across
processes, hosts and Python versions (Python's own hash() of a str is salted per process, so a sender
and a worker would disagree). Everything of a message stays on its queue's shard: its lease, its
retries, its result, its chord's join. So a workflow is joined or continued by one shard's script
only when all its steps map to one shard (canvas.py, execution/followup.py refuse the others).

Changing SHARDS or QUEUE_SHARD moves queues: what waits on a queue's old shard is served there by no
worker any more. A worker that starts looks for such messages and warns (worker/shards.py).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import ConfigurationError


@dataclass(frozen=True)
class ShardMap:
    """Queue name -> shard number (0 for every queue when there is one shard)."""

    count: int = 1
    explicit: tuple[tuple[str, int], ...] = ()

    def of(self, queue: str) -> int:
        if self.count == 1:
            return 0
        for name, shard in self.explicit:
            if name == queue:
                return shard
        return zlib.crc32(queue.encode()) % self.count

    def spread(self, queues: Iterable[str]) -> dict[int, list[str]]:
        """The queues by shard, each list in the order given (the order of precedence of `-Q`)."""
        found: dict[int, list[str]] = {}
        for queue in queues:
            found.setdefault(self.of(queue), []).append(queue)
        return dict(sorted(found.items()))


class CrossShardWorkflow(ConfigurationError):
    """The steps of a workflow map to different shards: no one shard's script can join or continue it."""


def one_shard(shards: ShardMap, what: str, queues: Iterable[str]) -> int:
    """The shard all these queues map to, else CrossShardWorkflow naming each queue and its shard."""
    spread = shards.spread(dict.fromkeys(queues))
    if len(spread) <= 1:
        return next(iter(spread), 0)
    where = "; ".join(f"{', '.join(names)} on shard {shard}" for shard, names in spread.items())
    raise CrossShardWorkflow(
        f"{what} has steps on queues of different shards ({where}): a workflow is joined and continued by one "
        "shard's scripts, so all its queues must map to one shard. Map them to one with JOBS['QUEUE_SHARD'] "
        "(e.g. {" + ", ".join(f"{name!r}: {min(spread)}" for names in spread.values() for name in names) + "}).")
