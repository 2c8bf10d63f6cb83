"""The operators' reads over every shard (JOBS["SHARDS"]): each shard is a whole copy of jobs'
keyspace under a hash tag of its own, so what a page shows (queues, workers, what runs, the
scheduled set, the counters) is each shard's reads, merged. AllReads answers every read Reads does
(redis/reads.py), in the same shapes, so the monitor and its views read one shard or several alike.

A read costs its round trips once per shard: they are made one shard after another, which with a
handful of shards stays within what a page may cost. With one shard the monitor reads that shard's
Reads directly: nothing here runs, and nothing costs more than it did before shards existed.

How each reply merges: counts add up (lengths, counters, totals); sets and maps are joined (queues,
paused queues, what is held); lists ordered by a score are merged by it (the scheduled set); a
worker's record lives on the shard it serves, so the one shard that has it answers for it. The beat's
leadership, Redis's setup and INFO are the first shard's: beat leads from there.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import DecodeError
from ..redis.reads import Look, QueueCounts, Reads, Totals
from ..redis.server import RedisSetup
from ..wire.header import Header


def _sum(values: Iterable[bytes | int | None]) -> int:
    return sum(int(v or 0) for v in values)


def _enqueued(head: list[bytes]) -> float:
    """When a queue's head message was sent (unix s), to tell which shard's head is older; an
    unreadable one counts as the oldest, so that it is shown."""
    try:
        return Header(head[0].decode("utf-8")).enqueued_at
    except (UnicodeDecodeError, DecodeError, IndexError):
        return float("-inf")


def _older(heads: Iterable[list[bytes]]) -> list[bytes]:
    """The head, of the shards' heads of one queue, sent first ([] when every shard's is empty)."""
    found = [h for h in heads if h]
    return min(found, key=_enqueued) if found else []


def _added(rows: Sequence[Sequence[bytes | None]]) -> list[bytes | None]:
    """Field-by-field sums of the same fields read on each shard (None where no shard has one)."""
    return [None if all(v is None for v in column) else b"%d" % _sum(column) for column in zip(*rows, strict=True)]


def _added_maps(maps: Iterable[dict[bytes, bytes]]) -> dict[bytes, bytes]:
    out: dict[bytes, int] = {}
    for one in maps:
        for key, value in one.items():
            out[key] = out.get(key, 0) + int(value or 0)
    return {key: b"%d" % value for key, value in out.items()}


def _by_score(lists: Iterable[list[tuple[bytes, float]]]) -> list[tuple[bytes, float]]:
    """(member, score) lists each in score order, merged into one in score order (stable: at one
    score, the first shard's members first)."""
    return list(heapq.merge(*lists, key=lambda pair: pair[1]))


class AllReads:
    """Reads over several shards, merged (see the module docstring): the first is the home shard."""

    def __init__(self, shards: Sequence[Reads]) -> None:
        if not shards:
            raise ValueError("AllReads needs at least one shard")
        self.shards = list(shards)
        self.home = self.shards[0]

    # -- Redis itself: the home shard's -------------------------------------------------------

    def setup(self, timeout: float) -> RedisSetup:
        return self.home.setup(timeout)

    def info(self) -> dict[str, str]:
        return self.home.info()

    def beat_leader(self) -> bytes | None:
        return self.home.beat_leader()

    # -- workers and queues --------------------------------------------------------------------

    def look(self, held: bool = False) -> Look:
        looks = [shard.look(held) for shard in self.shards]
        merged = Look(max(one.now for one in looks), [], set(), {}, {}, [])
        for one in looks:
            merged.beats += one.beats
            merged.registered |= one.registered
            for queue, since in one.paused.items():  # paused on each shard it lives on: the earliest
                merged.paused[queue] = min(since, merged.paused.get(queue, since))
            merged.held.update(one.held)  # delivery tokens are unique to a consumer, whichever the shard
            merged.leases += one.leases
        return merged

    def beats(self) -> tuple[list[tuple[bytes, float]], float]:
        merged: list[tuple[bytes, float]] = []
        now = 0.0
        for shard in self.shards:
            beats, at = shard.beats()
            merged += beats
            now = max(now, at)
        return merged, now

    def workers(self, ids: Sequence[str]) -> list[tuple[bytes | None, int, int]]:
        if not ids:
            return []
        per_shard = [shard.workers(ids) for shard in self.shards]
        return [(next((raw for raw, _, _ in rows if raw is not None), None), sum(p for _, p, _ in rows),
                 sum(f for _, _, f in rows)) for rows in zip(*per_shard, strict=True)]

    def running(self, ids: Sequence[str]) -> list[tuple[bytes | None, dict[bytes, bytes]]]:
        if not ids:
            return []
        per_shard = [shard.running(ids) for shard in self.shards]
        out = []
        for rows in zip(*per_shard, strict=True):
            running: dict[bytes, bytes] = {}
            for _, one in rows:
                running.update(one)
            out.append((next((raw for raw, _ in rows if raw is not None), None), running))
        return out

    def lengths(self, names: Sequence[str]) -> list[int]:
        if not names:
            return []
        return [sum(column) for column in zip(*(shard.lengths(names) for shard in self.shards), strict=True)]

    def queues(self, names: Sequence[str], minutes: Sequence[int],
               fields: Sequence[str]) -> tuple[list[QueueCounts], list[list[bytes | None]]]:
        replies = [shard.queues(names, minutes, fields) for shard in self.shards]
        counts = [QueueCounts(sum(c.length for c in column), _older(c.head for c in column),
                              [sum(c.by_score[s] for c in column) for s in range(10)])
                  for column in zip(*(counts for counts, _ in replies), strict=True)]
        rows = [_added(column) for column in zip(*(rows for _, rows in replies), strict=True)]
        return counts, rows

    def totals(self, names: Sequence[str]) -> Totals:
        every = [shard.totals(names) for shard in self.shards]
        return Totals(
            stats=_added_maps(t.stats for t in every), scheduled=sum(t.scheduled for t in every),
            running=sum(t.running for t in every), dead=sum(t.dead for t in every),
            beat_leader=every[0].beat_leader,
            lengths=[sum(column) for column in zip(*(t.lengths for t in every), strict=True)],
            heads=[_older(column) for column in zip(*(t.heads for t in every), strict=True)])

    def slots(self, most: int) -> tuple[list[bytes], list[bytes | None], list[bytes], list[list[bytes]]]:
        """A concurrency limit's slot is taken on the shard its task's message is on: a slot's
        holders on every shard are listed together, under the limit the first shard names."""
        names: list[bytes] = []
        limits: dict[bytes, bytes | None] = {}
        holders: dict[bytes, list[bytes]] = {}
        leased: list[bytes] = []
        for shard in self.shards:
            shard_names, shard_limits, shard_leased, shard_holders = shard.slots(most)
            leased += shard_leased
            for name, limit, held in zip(shard_names, shard_limits, shard_holders, strict=True):
                if name not in holders:
                    names.append(name)
                    holders[name] = []
                if limits.get(name) is None:
                    limits[name] = limit
                holders[name] += held
        names = names[:most]
        return names, [limits[n] for n in names], leased, [holders[n] for n in names]

    # -- the scheduled set ---------------------------------------------------------------------

    def scheduled(self, offset: int, limit: int) -> tuple[list[tuple[bytes, float]], float]:
        """Soonest first over every shard: each shard's first offset + limit, merged, then the page."""
        replies = [shard.scheduled(0, offset + limit) for shard in self.shards]
        return _by_score(due for due, _ in replies)[offset:offset + limit], max(now for _, now in replies)

    def extent(self) -> tuple[int, float]:
        every = [shard.extent() for shard in self.shards]
        return sum(count for count, _ in every), max(last for _, last in every)

    def due_by(self, upto: float, limit: int) -> list[bytes]:
        """At most `limit` members due by `upto`, from every shard (each shard's soonest first;
        the actions on them are sent to every shard, which moves the ones it has)."""
        out: list[bytes] = []
        for shard in self.shards:
            if len(out) >= limit:
                break
            out += shard.due_by(upto, limit - len(out))
        return out

    def at_scores(self, scores: Sequence[float]) -> list[list[bytes]]:
        per_shard = [shard.at_scores(scores) for shard in self.shards]
        return [[member for members in column for member in members] for column in zip(*per_shard, strict=True)]

    def from_score(self, low: str, skip: int, count: int) -> list[tuple[bytes, float]]:
        """As one set: the first skip + count of each shard from `low`, merged by score, past `skip`."""
        return _by_score(shard.from_score(low, 0, skip + count) for shard in self.shards)[skip:skip + count]

    # -- the minute and hour counters ----------------------------------------------------------

    def counts(self, window: Sequence[int], fields: Sequence[str], hourly: bool = False) -> list[list[bytes | None]]:
        per_shard = [shard.counts(window, fields, hourly) for shard in self.shards]
        return [_added(column) for column in zip(*per_shard, strict=True)]

    def tallies(self, window: Sequence[int], hourly: bool = False) -> list[dict[bytes, bytes]]:
        per_shard = [shard.tallies(window, hourly) for shard in self.shards]
        return [_added_maps(column) for column in zip(*per_shard, strict=True)]


def reads_of(shards: Sequence[Any]) -> Reads | AllReads:
    """The reads a monitor uses: one shard's own, or every shard's merged."""
    return shards[0].reads if len(shards) == 1 else AllReads([b.reads for b in shards])
