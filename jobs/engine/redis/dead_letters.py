"""The dead letters: messages that cannot or must not run, by id (a HASH) and by time (a ZSET), as
operators list, requeue and discard them."""

from __future__ import annotations

from collections.abc import Sequence

from .part import Part
from .specs.operating import (
    DEAD_DISCARD,
    DEAD_PURGE,
    DEAD_REQUEUE,
    OUTBOX_DEAD,
    DeadDiscardArgs,
    DeadLettersKeys,
    DeadPurgeArgs,
    DeadRequeueArgs,
    DeadRequeueKeys,
    OutboxDeadArgs,
    OutboxDeadKeys,
)


class DeadLetters(Part):
    """broker.dead: count(), ids(), records(), requeue(), discard(), newest(), purge(), bury_unsent()."""


    def count(self) -> int:
        return int(self.b.link.call("ZCARD", self.b.keys.dead_order))

    def ids(self, start: int = 0, stop: int = -1, newest_first: bool = True) -> list[str]:
        command = "ZREVRANGE" if newest_first else "ZRANGE"
        return [i.decode() for i in self.b.link.call(command, self.b.keys.dead_order, start, stop)]

    def records(self, ids: Sequence[str]) -> list[bytes | None]:
        return list(self.b.link.call("HMGET", self.b.keys.dead, *ids)) if ids else []

    def requeue(self, ids: Sequence[str]) -> list[str]:
        done: list[str] = []
        k = self.b.keys
        keys = DeadRequeueKeys(dead=k.dead, dead_order=k.dead_order, queue_set=k.queues)
        for i in range(0, len(ids), 500):
            argv = DeadRequeueArgs(queue_prefix=k.queue_prefix, wake_prefix=k.wake_prefix, ids=ids[i:i + 500])
            done += [r.decode() for r in DEAD_REQUEUE(self.b.link, keys, argv)]
        return done

    def discard(self, ids: Sequence[str]) -> int:
        """Delete dead letters by id (lua/dead_discard.lua); how many were there."""
        keys = DeadLettersKeys(dead=self.b.keys.dead, dead_order=self.b.keys.dead_order)
        return sum(int(DEAD_DISCARD(self.b.link, keys, DeadDiscardArgs(ids=ids[i:i + 500])))
                   for i in range(0, len(ids), 500))

    def newest(self) -> str:
        """Where the dead letters stand now, for dead_purge(upto=...): the newest one's score."""
        newest = self.b.link.call("ZRANGE", self.b.keys.dead_order, -1, -1, "WITHSCORES")
        return repr(float(newest[1])) if newest else "-inf"

    def purge(self, upto: str = "+inf") -> int:
        """Delete the dead letters up to `upto` (dead_newest() when they were counted), not those
        that arrived since."""
        keys = DeadLettersKeys(dead=self.b.keys.dead, dead_order=self.b.keys.dead_order)
        return int(DEAD_PURGE(self.b.link, keys, DeadPurgeArgs(upto=upto)))

    def bury_unsent(self, score: int, queue: str, wire: str, reason: str, worker: str = "") -> int:
        """Bury a message that was never enqueued, the outbox's relay could not send it (lua/outbox_dead.lua);
        the number of old dead letters trimmed."""
        k = self.b.keys
        keys = OutboxDeadKeys(dead=k.dead, dead_order=k.dead_order, history=k.history,
                              history_dropped=k.history_dropped)
        argv = OutboxDeadArgs(entry=f"{score}|{queue}|{wire}", reason=reason, worker=worker,
                              dead_letters_max=self.b.config.dead_letters_max, history_backlog=self.b.history_max,
                              result_ms=self.b.ttl_ms, result_prefix=k.result_prefix, done_prefix=k.done_prefix)
        return int(OUTBOX_DEAD(self.b.link, keys, argv))
