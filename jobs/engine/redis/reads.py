"""What the operators' pages read from Redis and no worker needs: the Redis commands behind
ops/monitor.py, which turns their replies into what a page shows. Here so that every Redis call jobs
makes is in this folder (tests/test_structure.py), and a reader of the console's costs finds them in
one place.

Each method is one round trip, its commands pipelined, however many queues, workers or tasks it
reads; none uses KEYS or a SCAN of the keyspace (queues are listed from the queues SET, keys.py).
Replies are handed back as Redis gives them (bytes), but for their shape: a WITHSCORES reply as
(member, score) pairs, an HGETALL as a dict, TIME as unix seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import NoPermissionError, ResponseError

from .connection import Link
from .part import Part
from .server import RedisSetup, parse_info


def pairs(flat: list[Any]) -> list[tuple[bytes, float]]:
    """A WITHSCORES reply as (member, score) pairs."""
    return [(flat[i], float(flat[i + 1])) for i in range(0, len(flat), 2)]


def mapping(reply: Any) -> dict[bytes, bytes]:
    """An HGETALL reply (a flat list on RESP2, a dict on RESP3) as a dict; {} for an error reply."""
    if isinstance(reply, dict):
        return reply
    return {reply[i]: reply[i + 1] for i in range(0, len(reply), 2)} if isinstance(reply, list) else {}


def seconds(time_reply: list[bytes]) -> float:
    """A TIME reply as unix seconds (Redis's clock)."""
    return int(time_reply[0]) + int(time_reply[1]) / 1e6


def _info(raw: Any) -> dict[str, str]:
    return parse_info(raw.decode() if isinstance(raw, bytes) else str(raw))


@dataclass
class Look:
    """What most of the monitor's reads start from (Reads.look)."""

    now: float  # unix s, Redis's clock
    beats: list[tuple[bytes, float]]  # worker id -> last heartbeat (ms)
    registered: set[str]  # the queues SET
    paused: dict[str, float]  # queue -> since (unix s)
    #: With held=True: the in-flight hash (token -> entry) and the leases (token, deadline ms).
    held: dict[bytes, bytes]
    leases: list[tuple[bytes, float]]


@dataclass
class QueueCounts:
    """A queue as Reads.queues reads it."""

    length: int
    head: list[bytes]  # the message next in line ([] when empty)
    by_score: list[int]  # messages waiting at each score 0-9 (priority 9-0)


@dataclass
class Totals:
    """What a Prometheus scrape reads besides the workers (Reads.totals)."""

    stats: dict[bytes, bytes]
    scheduled: int
    running: int
    dead: int
    beat_leader: bool
    lengths: list[int]
    heads: list[list[bytes]]


class Reads(Part):
    """broker.reads: Redis itself (setup, info), the workers and queues (look, beats, workers,
    running, lengths, queues, totals, beat_leader), the scheduled set (scheduled, extent, due_by,
    at_scores, from_score) and the minute and hour counters (counts, tallies)."""

    # -- Redis itself --------------------------------------------------------------------------

    def setup(self, timeout: float) -> RedisSetup:
        """What Redis says of its memory policy and persistence (server.py judges it), on a
        connection of its own with short timeouts: `manage.py check` must not hang on a Redis that
        does not answer. Raises the connection's errors if it cannot be reached."""
        link = Link(self.b.factory, socket_timeout=timeout, socket_connect_timeout=timeout)
        refused: list[tuple[str, str]] = []  # a user without INFO or CONFIG (docs/operations.md), a managed Redis
        info: dict[str, str] = {}
        snapshots: bool | None = None
        try:
            try:
                info = _info(link.call("INFO", "all"))
            except ResponseError as exc:
                refused.append(("INFO", str(exc)))
            try:  # only where it matters: with appendonly on, whether RDB snapshots are kept too does not
                if info.get("aof_enabled") != "1":
                    save = link.call("CONFIG", "GET", "save")
                    snapshots = bool(save and len(save) > 1 and save[1].strip())
            except NoPermissionError as exc:  # a user without CONFIG: the operator's Redis, said (W004)
                refused.append(("CONFIG", str(exc)))
            except ResponseError:  # CONFIG renamed away on a managed Redis: persistence is the service's
                pass
        finally:
            link.close()
        return RedisSetup(
            version=info.get("redis_version") or info.get("valkey_version", "?"),
            policy=info.get("maxmemory_policy", "noeviction" if info else ""),
            maxmemory=int(info.get("maxmemory", "0") or 0),
            appendonly=info.get("aof_enabled", "0") == "1",
            snapshots=snapshots,
            refused=tuple(refused),
        )

    def info(self) -> dict[str, str]:
        """INFO's default sections: memory, persistence, clients, load, uptime."""
        return _info(self.b.link.call("INFO"))

    # -- workers and queues --------------------------------------------------------------------

    def look(self, held: bool = False) -> Look:
        """Heartbeats, the queues SET, the paused queues and Redis's time; with `held`, what the
        workers hold (the in-flight hash and the leases) too."""
        k = self.b.keys
        extra: list[tuple[Any, ...]] = [("HGETALL", k.inflight), ("ZRANGE", k.leases, 0, -1, "WITHSCORES")] if held \
            else []
        beats, registered, paused, now, *rest = self.b.link.pipeline(
            [("ZRANGE", k.workers, 0, -1, "WITHSCORES"), ("SMEMBERS", k.queues), ("HGETALL", k.paused), ("TIME",),
             *extra])
        return Look(seconds(now), pairs(beats), {b.decode() for b in registered},
                    {q.decode(): int(since) / 1000 for q, since in mapping(paused).items()},
                    mapping(rest[0]) if held else {}, pairs(rest[1]) if held else [])

    def beats(self) -> tuple[list[tuple[bytes, float]], float]:
        """Every worker's last heartbeat (ms, stamped on Redis's clock) and Redis's clock now (unix s),
        in one round trip: liveness is judged on one clock, whatever the reader's host says."""
        beats, now = self.b.link.pipeline([("ZRANGE", self.b.keys.workers, 0, -1, "WITHSCORES"), ("TIME",)])
        return pairs(beats), seconds(now)

    def workers(self, ids: Sequence[str]) -> list[tuple[bytes | None, int, int]]:
        """Each worker's record (JSON, None once gone) and the outcomes it settled, and of those
        FAILURE (keys.worker_counts). Nothing is read for no worker."""
        if not ids:
            return []
        k = self.b.keys
        records, *counts = self.b.link.pipeline(
            [("MGET", *[k.worker(i) for i in ids]), *(("HMGET", k.worker_counts(i), "processed", "failed")
                                                      for i in ids)])
        return [(raw, int(processed or 0), int(failed or 0))
                for raw, (processed, failed) in zip(records, counts, strict=True)]

    def running(self, ids: Sequence[str]) -> list[tuple[bytes | None, dict[bytes, bytes]]]:
        """Each worker's record and what it runs (task id -> started, ms: keys.running)."""
        if not ids:
            return []
        k = self.b.keys
        records, *running = self.b.link.pipeline([("MGET", *[k.worker(i) for i in ids]),
                                                  *(("HGETALL", k.running(i)) for i in ids)])
        return [(raw, mapping(one)) for raw, one in zip(records, running, strict=True)]

    def lengths(self, names: Sequence[str]) -> list[int]:
        """The messages waiting in each queue."""
        return [int(n) for n in self.b.link.pipeline([("ZCARD", self.b.keys.queue(q)) for q in names])] if names \
            else []

    def queues(self, names: Sequence[str], minutes: Sequence[int],
               fields: Sequence[str]) -> tuple[list[QueueCounts], list[list[bytes | None]]]:
        """Each queue's length, next message and messages at each score; and `fields` of each of
        these `minutes`' counters."""
        k = self.b.keys
        per_queue: list[tuple[Any, ...]] = []
        for q in names:
            key = k.queue(q)
            per_queue += [("ZCARD", key), ("ZRANGE", key, 0, 0),
                          *(("ZCOUNT", key, score, score) for score in range(10))]
        replies = self.b.link.pipeline([*per_queue, *(("HMGET", k.minute(m), *fields) for m in minutes)])
        counts = [QueueCounts(int(replies[i]), replies[i + 1], [int(n) for n in replies[i + 2:i + 12]])
                  for i in range(0, len(per_queue), 12)]
        return counts, replies[len(per_queue):]

    def totals(self, names: Sequence[str]) -> Totals:
        """The all-time counters, the scheduled, running and dead messages, whether a beat leads,
        and each queue's length and next message."""
        k = self.b.keys
        replies = self.b.link.pipeline([("HGETALL", k.stats), ("ZCARD", k.scheduled), ("HLEN", k.inflight),
                                        ("ZCARD", k.dead_order), ("GET", k.beat_leader()),
                                        *(("ZCARD", k.queue(q)) for q in names),
                                        *(("ZRANGE", k.queue(q), 0, 0) for q in names)])
        stats, scheduled, running, dead, leader, *rest = replies
        return Totals(mapping(stats), int(scheduled), int(running), int(dead), leader is not None,
                      [int(n) for n in rest[:len(names)]], rest[len(names):])

    def slots(self, most: int) -> tuple[list[bytes], list[bytes | None], list[bytes], list[list[bytes]]]:
        """The concurrency slots taken lately, the most recent first (at most `most`), their limits,
        the tokens holding a lease, and each slot's holders: two round trips (one when there is
        none). A holder counts while its token holds a lease, as lua/slot.lua counts it."""
        k = self.b.keys
        names = list(self.b.link.call("ZREVRANGE", k.slots, 0, most - 1))
        if not names:
            return [], [], [], []
        replies = self.b.link.pipeline([("HMGET", k.slot_limits, *names), ("ZRANGE", k.leases, 0, -1),
                                        *(("ZRANGE", k.slot(n.decode()), 0, -1) for n in names)])
        return names, list(replies[0]), list(replies[1]), [list(r) for r in replies[2:]]

    def beat_leader(self) -> bytes | None:
        """The id of the beat that holds the lease, if one does."""
        leader: bytes | None = self.b.link.call("GET", self.b.keys.beat_leader())
        return leader

    # -- the scheduled set ---------------------------------------------------------------------

    def scheduled(self, offset: int, limit: int) -> tuple[list[tuple[bytes, float]], float]:
        """`limit` members from rank `offset` with their scores (due, unix ms), and Redis's time (s)."""
        key = self.b.keys.scheduled
        due, now = self.b.link.pipeline([("ZRANGE", key, offset, offset + limit - 1, "WITHSCORES"), ("TIME",)])
        return pairs(due), seconds(now)

    def extent(self) -> tuple[int, float]:
        """How many members, and the last one's score (0 if none)."""
        key = self.b.keys.scheduled
        count, last = self.b.link.pipeline([("ZCARD", key), ("ZRANGE", key, -1, -1, "WITHSCORES")])
        return int(count), float(last[1]) if last else 0.0

    def due_by(self, upto: float, limit: int) -> list[bytes]:
        """The soonest `limit` members scored `upto` or less."""
        return list(self.b.link.call("ZRANGEBYSCORE", self.b.keys.scheduled, "-inf", repr(float(upto)),
                                     "LIMIT", 0, limit))

    def at_scores(self, scores: Sequence[float]) -> list[list[bytes]]:
        """The members at each of these scores."""
        key = self.b.keys.scheduled
        return list(self.b.link.pipeline([("ZRANGEBYSCORE", key, repr(float(at)), repr(float(at))) for at in scores]))

    def from_score(self, low: str, skip: int, count: int) -> list[tuple[bytes, float]]:
        """`count` members with their scores, from score `low` ("-inf", or a repr of a float) on,
        past the first `skip` of them."""
        return pairs(self.b.link.call("ZRANGEBYSCORE", self.b.keys.scheduled, low, "+inf", "WITHSCORES",
                                      "LIMIT", skip, count))

    # -- the minute and hour counters ----------------------------------------------------------

    def counts(self, window: Sequence[int], fields: Sequence[str], hourly: bool = False) -> list[list[bytes | None]]:
        """`fields` of the counters of each minute (each hour) of `window`."""
        key = self.b.keys.hour if hourly else self.b.keys.minute
        return list(self.b.link.pipeline([("HMGET", key(at), *fields) for at in window]))

    def tallies(self, window: Sequence[int], hourly: bool = False) -> list[dict[bytes, bytes]]:
        """Every field of the counters of each minute (each hour) of `window`."""
        key = self.b.keys.hour if hourly else self.b.keys.minute
        return [mapping(h) for h in self.b.link.pipeline([("HGETALL", key(at)) for at in window])]
