"""What operators look at: queues, workers, running and scheduled tasks, dead letters, and the
per-minute counters the console draws, as rows (rows.py). Reads only (every change is the broker's);
the management command, the metrics view and the console go through here, not through keys. The
Redis commands are the broker's (redis/reads.py: broker.reads); what is here is what a page shows of
their replies.

Every read costs a bounded number of round trips, its commands pipelined, however many queues,
workers or tasks there are; none uses KEYS or a SCAN of the keyspace (queues are listed from the
queues SET, keys.py). Each method says what it costs.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
from collections.abc import Sequence
from typing import Any

from ..errors import DecodeError
from ..redis.broker import Broker
from ..redis.controls import ALIVE_MS
from ..redis.reads import Look, Reads
from ..redis.server import Finding, RedisHealth, RedisSetup, findings
from ..setup.app import App
from ..wire.header import Header, parse_entry
from .counters_view import CountersView
from .merged_reads import AllReads, reads_of
from .metrics import Snapshot
from .rows import DeadLetter, Held, QueueInfo, SlotInfo, WorkerInfo
from .scheduled_view import ScheduledView

#: A worker whose heartbeat is older than this is shown as gone.
ALIVE_SECONDS = ALIVE_MS / 1000

#: Dead letters read a round trip (two) when a filter is applied (from the newest; on to the oldest
#: if need be).
DEAD_PAGE = 1000

#: The concurrency slots read at most (the most recently taken first): a key per customer makes many.
SLOTS_SHOWN = 500

#: The window (minutes, with the current one) a queue's throughput is averaged over.
THROUGHPUT_MINUTES = 5

def _head_age(head: Any, now: float) -> float | None:
    """Age (s) of the message a ZRANGE 0 0 of a queue returned, None if empty or unreadable."""
    if not head:
        return None
    try:
        return max(0.0, now - Header(head[0].decode("utf-8")).enqueued_at)
    except (UnicodeDecodeError, DecodeError):
        return None


class Monitor(ScheduledView, CountersView):
    """Over one broker, or every shard's (app.brokers, the home shard first): several shards' reads
    are merged (merged_reads.py), and each read then costs its round trips once per shard."""

    def __init__(self, broker: Broker | Sequence[Broker]) -> None:
        self.brokers: list[Broker] = [broker] if isinstance(broker, Broker) else list(broker)
        self.broker = self.brokers[0]
        self.reads: Reads | AllReads = reads_of(self.brokers)

    # -- Redis itself --------------------------------------------------------------------------

    def redis_setup(self, timeout: float = 2.0) -> RedisSetup:
        """What Redis says of its memory policy and persistence (server.py judges it), on a
        connection of its own with short timeouts (reads.Reads.setup): `manage.py check` must not
        hang on a Redis that does not answer. Raises the connection's errors if it cannot be reached."""
        return self.reads.setup(timeout)

    def setup_findings(self, allow_eviction: bool, timeout: float = 2.0) -> list[Finding]:
        """What is wrong with this Redis for jobs (server.py)."""
        return findings(self.redis_setup(timeout), self.broker.config.broker_url, allow_eviction)

    def redis_health(self) -> RedisHealth:
        """Memory, persistence, clients, load and uptime: one INFO (its default sections)."""
        return RedisHealth.of(self.reads.info())

    # -- queues --------------------------------------------------------------------------------

    def _alive(self, look: Look) -> list[WorkerInfo]:
        """The live workers among those with a heartbeat: one round trip (none if there are none)."""
        return [w for w in self._workers(look.beats, look.now * 1000) if w.alive]

    def _names(self, look: Look, alive: list[WorkerInfo]) -> list[str]:
        return sorted(look.registered | set(look.paused) | {q for w in alive for q in w.queues})

    def queue_names(self) -> list[str]:
        """Every queue a message was sent to (the queues SET: a purged or drained queue stays), every
        queue a live worker consumes, every paused queue: two round trips."""
        look = self.reads.look()
        return self._names(look, self._alive(look))

    def queues(self) -> dict[str, int]:
        """Queue name -> waiting messages, for every queue queue_names() lists: three round trips."""
        names = self.queue_names()
        return dict(zip(names, self.reads.lengths(names), strict=True))

    def queue_details(self) -> list[QueueInfo]:
        """Every queue of queue_names() with its length by priority, latency, pause, consumers and
        throughput (from the minute counters): three round trips, however many queues."""
        look = self.reads.look()
        alive = self._alive(look)
        names = self._names(look, alive)
        if not names:
            return []
        current = int(look.now // 60)
        minutes = range(current - THROUGHPUT_MINUTES, current + 1)
        counts, rows = self.reads.queues(names, minutes, [f"*q|{q}" for q in names])
        ended = [sum(int(row[i] or 0) for row in rows) for i in range(len(names))]
        window = THROUGHPUT_MINUTES + (look.now - current * 60) / 60
        return [QueueInfo(name, one.length, {9 - score: n for score, n in enumerate(one.by_score) if n},
                          _head_age(one.head, look.now), look.paused.get(name),
                          sorted({w.hostname for w in alive if name in w.queues}), ended[i] / window)
                for i, (name, one) in enumerate(zip(names, counts, strict=True))]

    def slots(self) -> list[SlotInfo]:
        """The concurrency limits' slots taken lately, with their runs now, by name: two round trips
        (one when there is none)."""
        names, limits, leased, holders = self.reads.slots(SLOTS_SHOWN)
        live = set(leased)
        return sorted((SlotInfo(name.decode(), sum(token in live for token in held), int(limit or 0))
                       for name, limit, held in zip(names, limits, holders, strict=True)), key=lambda s: s.name)

    def unserved_queues(self) -> dict[str, int]:
        """Queues with waiting messages that no live worker consumes: work nobody will do."""
        served = {q for w in self.workers() if w.alive for q in w.queues}
        return {name: n for name, n in self.queues().items() if n and name not in served}

    # -- workers -------------------------------------------------------------------------------

    def workers(self) -> list[WorkerInfo]:
        """Every worker with a heartbeat, with its record and counts: two round trips, however many.
        Alive or not is judged on Redis's clock, which stamped the heartbeats: a console host whose
        clock is off sees the workers as they are."""
        beats, now = self.reads.beats()
        return self._workers(beats, now * 1000)

    def _workers(self, beats: list[tuple[bytes, float]], now_ms: float) -> list[WorkerInfo]:
        """The records and counts of these workers: one round trip (none if there are none)."""
        ids = [member.decode() for member, _ in beats]
        out = []
        for worker_id, (_, beat), (raw, processed, failed) in zip(ids, beats, self.reads.workers(ids), strict=True):
            record = json.loads(raw) if raw else {}
            ago = max(0.0, (now_ms - beat) / 1000)
            out.append(WorkerInfo(worker_id, record.get("hostname", worker_id), record.get("queues", []),
                                  record.get("pool", "?"), record.get("concurrency", 0), ago,
                                  ago <= ALIVE_SECONDS, record, processed, failed))
        return out

    # -- running and scheduled -----------------------------------------------------------------

    def active(self) -> list[Held]:
        """What the workers hold now (in flight): the worker of each, its lease left and, for a task
        that runs, when it started (the workers write that down every second, keys.running): two
        round trips, however many tasks and workers."""
        look = self.reads.look(held=True)
        now_ms = look.now * 1000
        ids = [member.decode() for member, beat in look.beats if now_ms - beat <= ALIVE_MS]
        by_uid: dict[str, tuple[str, str, dict[bytes, bytes]]] = {}
        for worker_id, (raw, running) in zip(ids, self.reads.running(ids), strict=True):
            hostname = json.loads(raw).get("hostname", worker_id) if raw else worker_id
            by_uid[worker_id.rsplit(".", 1)[-1]] = (worker_id, hostname, running)
        deadlines = {token.decode(): at for token, at in look.leases}
        out = []
        for token_raw, entry in look.held.items():
            token = token_raw.decode()
            _, queue, wire = parse_entry(entry)
            worker_id, hostname, running = by_uid.get(token.split(".", 1)[0], ("", "", {}))
            held = Held.read(wire, queue, hostname, (deadlines.get(token, now_ms) - now_ms) / 1000, worker_id=worker_id)
            started = running.get(held.id.encode()) if held.id else None
            out.append(held if started is None else dataclasses.replace(
                held, started_at=int(started) / 1000, running_for=max(0.0, look.now - int(started) / 1000)))
        return sorted(out, key=lambda h: h.enqueued_at)

    # -- Prometheus ----------------------------------------------------------------------------

    def metrics(self) -> Snapshot:
        """What a Prometheus scrape reads (metrics.py): every queue of queue_names() (even empty, so
        its series does not vanish), then everything else: three round trips, and the concurrency slots
        (slots()): one or two more."""
        look = self.reads.look()
        alive = self._alive(look)
        names = self._names(look, alive)
        totals = self.reads.totals(names)
        latency = {}
        for name, head in zip(names, totals.heads, strict=True):
            age = _head_age(head, look.now)
            if age is not None:
                latency[name] = age
        decoded = {k.decode(): v.decode() for k, v in totals.stats.items()}
        return Snapshot(stats=decoded, queues=dict(zip(names, totals.lengths, strict=True)), latency=latency,
                        paused=look.paused, scheduled=totals.scheduled, running=totals.running, dead=totals.dead,
                        beat_leader=totals.beat_leader, workers_alive=len(alive),
                        slots={s.name: (s.in_use, s.limit) for s in self.slots()})

    def beat_leader(self) -> str | None:
        """The id of the beat that leads (holds the lease), or None."""
        raw = self.reads.beat_leader()
        return raw.decode() if raw else None

    # -- dead letters --------------------------------------------------------------------------

    def dead_letters(self, limit: int = 50, offset: int = 0) -> list[DeadLetter]:
        """Newest first: two round trips (a shard)."""
        if len(self.brokers) > 1:  # each shard's newest offset + limit, merged by time
            return list(heapq.merge(*(self._dead_of(b, 0, offset + limit - 1) for b in self.brokers),
                                    key=lambda d: -d.time))[offset:offset + limit]
        return self._dead_of(self.broker, offset, offset + limit - 1)

    @staticmethod
    def _dead_of(broker: Broker, start: int, stop: int) -> list[DeadLetter]:
        ids = broker.dead.ids(start, stop)
        return [DeadLetter.parse(raw) for raw in broker.dead.records(ids) if raw]

    def dead_count(self) -> int:
        return sum(b.dead.count() for b in self.brokers)

    def dead_letters_matching(self, limit: int = 50, offset: int = 0, reason: str | None = None,
                              task: str | None = None) -> tuple[list[DeadLetter], bool]:
        """A page of the dead letters whose reason and task name contain these texts (any case),
        newest first, and whether there are more. Without a filter, as dead_letters() (one more
        letter read, for `more`). With one, the filter runs here over the whole set, DEAD_PAGE a
        batch (two round trips) from the newest, until the page and one more are found: Redis has
        no index by reason or task. The letters are bounded (DEAD_LETTERS_MAX, 10,000 by default:
        at most 20 round trips); one that arrives meanwhile shifts the ranks, so a letter read twice
        is counted once. Over several shards, each shard's matches are found so, then merged by time."""
        if not reason and not task:
            page = self.dead_letters(limit + 1, offset)
            return page[:limit], len(page) > limit
        want_reason, want_task = (reason or "").lower(), (task or "").lower()
        matched = list(heapq.merge(*(self._matching(b, offset + limit, want_reason, want_task)
                                     for b in self.brokers), key=lambda d: -d.time))
        return matched[offset:offset + limit], len(matched) > offset + limit

    @staticmethod
    def _matching(broker: Broker, enough: int, want_reason: str, want_task: str) -> list[DeadLetter]:
        """One shard's letters that match, newest first, until more than `enough` are found."""
        matched: list[DeadLetter] = []
        seen: set[str] = set()
        start = 0
        while len(matched) <= enough:
            newest = broker.dead.ids(start, start + DEAD_PAGE - 1)
            start += DEAD_PAGE
            ids = [i for i in newest if i not in seen]
            seen.update(ids)
            batch = [DeadLetter.parse(raw) for raw in broker.dead.records(ids) if raw]
            matched += [d for d in batch if want_reason in d.reason.lower() and want_task in d.task.lower()]
            if len(newest) < DEAD_PAGE:
                break
        return matched

    def dead_letter(self, dead_id: str) -> DeadLetter | None:
        for broker in self.brokers:
            [raw] = broker.dead.records([dead_id])
            if raw:
                return DeadLetter.parse(raw)
        return None

    # -- routing -------------------------------------------------------------------------------

    def unserved_routes(self, app: App) -> dict[str, list[str]]:
        """Queue -> the tasks (and ROUTES patterns) that send to it, for each queue no live worker
        consumes: a routing mistake shows here before the queue fills up. Callable routes are not
        asked (they may depend on arguments)."""
        served = {q for w in self.workers() if w.alive for q in w.queues}
        senders: dict[str, list[str]] = {}
        for name in app.registry:
            task = app.registry.get(name)
            route = app.router.pattern_route(name)
            queue = route.queue or task.queue or app.config.default_queue
            senders.setdefault(queue, []).append(name)
        for pattern, route in app.router.patterns():
            if route.queue and pattern not in senders.get(route.queue, []):
                senders.setdefault(route.queue, []).append(f"ROUTES[{pattern!r}]")
        return {queue: names for queue, names in sorted(senders.items()) if queue not in served}
