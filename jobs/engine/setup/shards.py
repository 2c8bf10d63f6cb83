"""Which shard a queue lives on (JOBS["SHARDS"], JOBS["QUEUE_SHARD"]).

A shard is a whole copy of jobs' keyspace under its own hash tag (redis/keys.py), served exactly as
a single Redis is: one Broker per shard, the same Lua scripts. On a Redis Cluster each shard's keys
sit in one slot, so the shards spread over the masters, and the Redis cost of the site with them.

A queue's shard is QUEUE_SHARD's word for it, else crc32 of its name modulo SHARDS: stable across
processes, hosts and Python versions (Python's own hash() of a str is salted per process, so a sender
and a worker would disagree). Everything of a message stays on its queue's shard: its lease, its
retries, its result. A workflow crosses shards through each shard's forward set (redis/forwards.py):
a chain's next step, a link, a join's branch counted on the join's home shard (the shard of its
callback's queue: execution/followup.py join_home), the callback sent from there.

Changing SHARDS or QUEUE_SHARD moves queues: what waits on a queue's old shard is served there by no
worker any more. A worker that starts looks for such messages and warns (worker/shard_workers.py).

One hot queue may spread over several shards (JOBS["QUEUE_SPREAD"] = {"emails": 3}): it is then that
many queues, its parts, each on its own shard: "emails" (part 0, on the queue's own shard, so a site
that turns spreading on keeps what waits), then "emails~1", "emails~2" on the shards after it. A
message goes to one part when it is made (setup/build.py: place()), chosen by its `spread_key` when the
caller gives one (the same key, the same part: messages with one key keep their order), else by its
id (an even spread). The part's name is the message's queue from then on, so everything that follows
the queue (its shard, its retries, its result, the worker that takes it) follows the part, and a
worker of "emails" serves every part. "~" is not allowed in the names users give (wire/names.py), so
a part's name cannot be another queue's. Order holds within a part, not across them.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError
from ..wire.names import check_name

#: Between a spread queue's name and its part's number (see the module docstring).
PART = "~"


@dataclass(frozen=True)
class ShardMap:
    """Queue name -> shard number (0 for every queue when there is one shard)."""

    count: int = 1
    explicit: tuple[tuple[str, int], ...] = ()
    #: Queue -> how many parts it spreads over (QUEUE_SPREAD), those over more than one.
    spreads: tuple[tuple[str, int], ...] = ()

    def of(self, queue: str) -> int:
        if self.count == 1:
            return 0
        name, mark, part = queue.rpartition(PART)
        if mark and part.isdigit():  # a spread queue's part: the shards after its queue's own
            return (self.of(name) + int(part)) % self.count
        for name, shard in self.explicit:
            if name == queue:
                return shard
        return zlib.crc32(queue.encode()) % self.count

    def parts(self, queue: str) -> list[str]:
        """The queues a queue is made of: itself, and its parts beyond the first if it spreads."""
        for name, count in self.spreads:
            if name == queue:
                return [queue, *(f"{queue}{PART}{i}" for i in range(1, count))]
        return [queue]

    def place(self, queue: str, key: str) -> str:
        """The part of `queue` a message goes to, by `key` (its spread_key, or its id): the queue
        itself unless it spreads."""
        for name, count in self.spreads:
            if name == queue:
                part = zlib.crc32(key.encode()) % count
                return f"{queue}{PART}{part}" if part else queue
        return queue

    def spread(self, queues: Iterable[str]) -> dict[int, list[str]]:
        """The queues by shard, each list in the order given (the order of precedence of `-Q`), a
        spread queue as its parts, each on the shard that holds it."""
        found: dict[int, list[str]] = {}
        for queue in queues:
            for part in self.parts(queue):
                found.setdefault(self.of(part), []).append(part)
        return dict(sorted(found.items()))


class CrossShardWorkflow(ConfigurationError):
    """A step of a workflow that cannot be handed to another shard: a unique task's (its lock is taken
    by the send, on its own shard, which the forwarder does not make)."""


def check_shards(shards: int, queue_shard: Any, queue_spread: Any) -> None:
    """The shard settings, as Config checks them (setup/config.py): QUEUE_SHARD names queues (checked
    as every queue name is) and shards that exist; QUEUE_SPREAD names queues and at most SHARDS parts
    for each."""
    if not isinstance(queue_shard, dict):
        raise ConfigurationError("JOBS['QUEUE_SHARD'] must be a dict: queue name -> shard number, e.g. {'emails': 2}")
    for queue, shard in queue_shard.items():
        check_name("a queue of JOBS['QUEUE_SHARD']", queue, ConfigurationError)
        if isinstance(shard, bool) or not isinstance(shard, int) or not 0 <= shard < shards:
            raise ConfigurationError(
                f"JOBS['QUEUE_SHARD'][{queue!r}] is {shard!r}: give a shard number from 0 to {shards - 1} "
                f"(JOBS['SHARDS'] is {shards}), or raise SHARDS")
    if not isinstance(queue_spread, dict):
        raise ConfigurationError("JOBS['QUEUE_SPREAD'] must be a dict: queue name -> how many shards it spreads over, "
                                 "e.g. {'emails': 3}")
    for queue, count in queue_spread.items():
        check_name("a queue of JOBS['QUEUE_SPREAD']", queue, ConfigurationError)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= shards:
            raise ConfigurationError(
                f"JOBS['QUEUE_SPREAD'][{queue!r}] is {count!r}: give how many shards the queue spreads over, from 1 "
                f"to JOBS['SHARDS'] ({shards}); more parts than shards would put two on one shard, which spreads "
                "nothing")
