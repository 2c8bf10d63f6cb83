"""What operators look at: queues, workers, running and scheduled tasks, dead letters, and the
per-minute counters the console draws. Reads only (every change is the broker's); the management
command, the metrics view and the console go through here, not through keys. Besides broker.py, the
one module that talks to Redis itself: it reads what no worker needs.

Every read costs a bounded number of round trips, its commands pipelined, however many queues,
workers or tasks there are; none uses KEYS or a SCAN of the keyspace (queues are listed from the
queues SET, keys.py). Each method says what it costs.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import NoPermissionError, ResponseError

from ..errors import DecodeError
from ..redis.broker import Broker
from ..redis.connection import Link
from ..redis.controls import ALIVE_MS
from ..redis.server import Finding, RedisHealth, RedisSetup, findings, parse_info
from ..setup.app import App
from ..wire.message import Header, full_id, parse_entry
from .metrics import Snapshot
from .minutes import MinutePoint, TaskMetrics, by_task, point, task_fields

#: A worker whose heartbeat is older than this is shown as gone.
ALIVE_SECONDS = ALIVE_MS / 1000

#: Messages read a round trip when looking for task ids in the scheduled set (from the soonest:
#: where a console's list starts; on to the end of the set if need be).
SCHEDULED_PAGE = 1000

#: Dead letters read a round trip (two) when a filter is applied (from the newest; on to the oldest
#: if need be).
DEAD_PAGE = 1000

#: The window (minutes, with the current one) a queue's throughput is averaged over.
THROUGHPUT_MINUTES = 5


@dataclass(frozen=True)
class WorkerInfo:
    """A worker as its heartbeat and its record show it."""

    id: str
    hostname: str
    queues: list[str]
    pool: str
    concurrency: int
    last_seen: float  # seconds ago
    alive: bool
    extra: dict[str, Any] = field(default_factory=dict)
    #: Outcomes it settled, and of those FAILURE, while its record lives (keys.worker_counts).
    processed: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Held:
    """A message held by a worker (running, or about to), or waiting in the scheduled set."""

    id: str
    task: str
    queue: str
    #: Running: the worker's hostname ('' if its heartbeat is gone) and seconds left on its lease.
    #: Scheduled: '' and the seconds until it is due (negative: overdue, promoted at the next tick).
    worker: str
    seconds: float
    enqueued_at: float
    #: The message's header could not be read (it goes to the dead letters when taken).
    readable: bool = True
    #: Running: the id of the worker that holds it ('' as for `worker`), and when its task started
    #: (unix s, Redis's clock; None while it is only prefetched, or for an async task).
    worker_id: str = ""
    started_at: float | None = None
    #: The message as it travels (its arguments, for a page to show through redact.py).
    wire: bytes = b""
    #: Scheduled: the member of the scheduled set, as run_scheduled/delete_scheduled take it, and
    #: its score there (when due, unix ms: where to find it again in one round trip).
    member: bytes = b""
    due: float = 0.0


@dataclass(frozen=True)
class QueueInfo:
    """A queue as the console lists it."""

    name: str
    length: int
    by_priority: dict[int, int]  # priority -> messages waiting, for the priorities that have any
    latency: float | None  # age (s) of the message next in line; None when empty
    paused_since: float | None  # unix s
    consumers: list[str]  # hostnames of the live workers that consume it
    throughput: float  # tasks ended per minute, over the last THROUGHPUT_MINUTES (and this one so far)


@dataclass(frozen=True)
class DeadLetter:
    """A message kept in the dead letters, with why and where it came from."""

    id: str  # its own: the task id, or "<task id>#2"... when that task id has several (lua/lib/dead.lua)
    task: str
    queue: str
    reason: str
    time: float
    worker: str
    message: str
    task_id: str = ""

    @classmethod
    def parse(cls, raw: bytes) -> DeadLetter:
        # A message written into a queue by hand need not be UTF-8, and its record holds it as it was.
        doc = json.loads(raw.decode("utf-8", "replace"))
        return cls(doc.get("id", ""), doc.get("task", ""), doc.get("queue", ""), doc.get("reason", ""),
                   float(doc.get("time", 0)), doc.get("worker", ""), doc.get("message", ""),
                   doc.get("task_id") or doc.get("id", ""))


def _scheduled_id(member: bytes) -> str:
    """The task id a member of the scheduled set carries ("score|queue|enqueued|deliveries|id|...")."""
    parts = member.split(b"|", 5)
    return full_id(parts[4].decode("utf-8", "replace")) if len(parts) > 5 else ""


def _pairs(flat: list[Any]) -> list[tuple[bytes, float]]:
    """A WITHSCORES reply as (member, score) pairs."""
    return [(flat[i], float(flat[i + 1])) for i in range(0, len(flat), 2)]


def _flat(reply: list[bytes]) -> list[tuple[bytes, bytes]]:
    return [(reply[i], reply[i + 1]) for i in range(0, len(reply), 2)]


def _mapping(reply: Any) -> dict[bytes, bytes]:
    """An HGETALL reply (a flat list on RESP2, a dict on RESP3) as a dict; {} for an error reply."""
    if isinstance(reply, dict):
        return reply
    return dict(_flat(reply)) if isinstance(reply, list) else {}


def _seconds(time_reply: list[bytes]) -> float:
    """A TIME reply as unix seconds (Redis's clock)."""
    return int(time_reply[0]) + int(time_reply[1]) / 1e6


def _held(wire: bytes, queue: str, worker: str, seconds: float, **more: Any) -> Held:
    try:
        header = Header(wire.decode("utf-8"))
    except (UnicodeDecodeError, DecodeError):
        return Held("", Header.describe(wire), queue, worker, seconds, 0.0, readable=False, wire=wire, **more)
    return Held(header.id, header.task, queue, worker, seconds, header.enqueued_at, wire=wire, **more)


def _head_age(head: Any, now: float) -> float | None:
    """Age (s) of the message a ZRANGE 0 0 of a queue returned, None if empty or unreadable."""
    if not head:
        return None
    try:
        return max(0.0, now - Header(head[0].decode("utf-8")).enqueued_at)
    except (UnicodeDecodeError, DecodeError):
        return None


@dataclass
class _Look:
    """What most reads start from, read in one round trip (Monitor._look)."""

    now: float  # unix s, Redis's clock
    beats: list[tuple[bytes, float]]  # worker id -> last heartbeat (ms)
    registered: set[str]  # the queues SET
    paused: dict[str, float]  # queue -> since (unix s)
    extra: list[Any]  # the replies to the extra commands, in order


#: Task metrics over this many minutes or more are read from the hour hashes (whole hours).
HOURLY_FROM = 180


class Monitor:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.keys = broker.keys

    # -- Redis itself --------------------------------------------------------------------------

    def redis_setup(self, timeout: float = 2.0) -> RedisSetup:
        """What Redis says of its memory policy and persistence (redis_setup.py judges it), on a
        connection of its own with short timeouts: `manage.py check` must not hang on a Redis that
        does not answer. Raises the connection's errors if it cannot be reached."""
        link = Link(self.broker.factory, socket_timeout=timeout, socket_connect_timeout=timeout)
        refused: list[tuple[str, str]] = []  # a user without INFO or CONFIG (docs/operations.md), a managed Redis
        info: dict[str, str] = {}
        snapshots: bool | None = None
        try:
            try:
                raw = link.call("INFO", "all")
                info = parse_info(raw.decode() if isinstance(raw, bytes) else str(raw))
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

    def setup_findings(self, allow_eviction: bool, timeout: float = 2.0) -> list[Finding]:
        """What is wrong with this Redis for jobs (redis_setup.py)."""
        return findings(self.redis_setup(timeout), self.broker.config.broker_url, allow_eviction)

    def redis_health(self) -> RedisHealth:
        """Memory, persistence, clients, load and uptime: one INFO (its default sections)."""
        raw = self.broker.link.call("INFO")
        return RedisHealth.of(parse_info(raw.decode() if isinstance(raw, bytes) else str(raw)))

    # -- queues --------------------------------------------------------------------------------

    def _look(self, *extra: tuple[Any, ...]) -> _Look:
        """Heartbeats, the queues SET, the paused queues and Redis's time, with `extra` commands:
        one round trip."""
        k = self.keys
        beats, registered, paused, now, *rest = self.broker.link.pipeline(
            [("ZRANGE", k.workers, 0, -1, "WITHSCORES"), ("SMEMBERS", k.queues), ("HGETALL", k.paused), ("TIME",),
             *extra])
        return _Look(_seconds(now), _pairs(beats), {b.decode() for b in registered},
                     {q.decode(): int(since) / 1000 for q, since in _mapping(paused).items()}, rest)

    def _names(self, look: _Look, alive: list[WorkerInfo]) -> list[str]:
        return sorted(look.registered | set(look.paused) | {q for w in alive for q in w.queues})

    def queue_names(self) -> list[str]:
        """Every queue a message was sent to (the queues SET: a purged or drained queue stays), every
        queue a live worker consumes, every paused queue: two round trips."""
        look = self._look()
        return self._names(look, [w for w in self._workers(look.beats, look.now * 1000) if w.alive])

    def queues(self) -> dict[str, int]:
        """Queue name -> waiting messages, for every queue queue_names() lists: three round trips."""
        names = self.queue_names()
        lengths = self.broker.link.pipeline([("ZCARD", self.keys.queue(q)) for q in names]) if names else []
        return {name: int(n) for name, n in zip(names, lengths, strict=True)}

    def queue_details(self) -> list[QueueInfo]:
        """Every queue of queue_names() with its length by priority, latency, pause, consumers and
        throughput (from the minute counters): three round trips, however many queues."""
        k = self.keys
        look = self._look()
        alive = [w for w in self._workers(look.beats, look.now * 1000) if w.alive]
        names = self._names(look, alive)
        if not names:
            return []
        current = int(look.now // 60)
        minutes = range(current - THROUGHPUT_MINUTES, current + 1)
        per_queue: list[tuple[Any, ...]] = []
        for q in names:
            key = k.queue(q)
            per_queue += [("ZCARD", key), ("ZRANGE", key, 0, 0),
                          *(("ZCOUNT", key, score, score) for score in range(10))]
        replies = self.broker.link.pipeline([*per_queue, *(("HMGET", k.minute(m), *(f"*q|{q}" for q in names))
                                                           for m in minutes)])
        ended = [sum(int(row[i] or 0) for row in replies[len(per_queue):]) for i in range(len(names))]
        window = THROUGHPUT_MINUTES + (look.now - current * 60) / 60
        out = []
        for i, name in enumerate(names):
            length, head, *counts = replies[12 * i:12 * (i + 1)]
            out.append(QueueInfo(name, int(length), {9 - score: int(n) for score, n in enumerate(counts) if int(n)},
                                 _head_age(head, look.now), look.paused.get(name),
                                 sorted({w.hostname for w in alive if name in w.queues}), ended[i] / window))
        return out

    def unserved_queues(self) -> dict[str, int]:
        """Queues with waiting messages that no live worker consumes: work nobody will do."""
        served = {q for w in self.workers() if w.alive for q in w.queues}
        return {name: n for name, n in self.queues().items() if n and name not in served}

    # -- workers -------------------------------------------------------------------------------

    def workers(self) -> list[WorkerInfo]:
        """Every worker with a heartbeat, with its record and counts: two round trips, however many."""
        beats = _pairs(self.broker.link.call("ZRANGE", self.keys.workers, 0, -1, "WITHSCORES"))
        return self._workers(beats, time.time() * 1000)

    def _workers(self, beats: list[tuple[bytes, float]], now_ms: float) -> list[WorkerInfo]:
        """The records and counts of these workers: one round trip (none if there are none)."""
        k = self.keys
        ids = [member.decode() for member, _ in beats]
        if not ids:
            return []
        records, *counts = self.broker.link.pipeline(
            [("MGET", *[k.worker(i) for i in ids]), *(("HMGET", k.worker_counts(i), "processed", "failed")
                                                      for i in ids)])
        out = []
        for worker_id, (_, beat), raw, (processed, failed) in zip(ids, beats, records, counts, strict=True):
            record = json.loads(raw) if raw else {}
            ago = max(0.0, (now_ms - beat) / 1000)
            out.append(WorkerInfo(worker_id, record.get("hostname", worker_id), record.get("queues", []),
                                  record.get("pool", "?"), record.get("concurrency", 0), ago,
                                  ago <= ALIVE_SECONDS, record, int(processed or 0), int(failed or 0)))
        return out

    # -- running and scheduled -----------------------------------------------------------------

    def active(self) -> list[Held]:
        """What the workers hold now (in flight): the worker of each, its lease left and, for a task
        that runs, when it started (the workers write that down every second, keys.running): two
        round trips, however many tasks and workers."""
        k = self.keys
        look = self._look(("HGETALL", k.inflight), ("ZRANGE", k.leases, 0, -1, "WITHSCORES"))
        entries, leases = _mapping(look.extra[0]), _pairs(look.extra[1])
        alive = [b for b in look.beats if look.now * 1000 - b[1] <= ALIVE_MS]
        ids = [member.decode() for member, _ in alive]
        replies = self.broker.link.pipeline([("MGET", *[k.worker(i) for i in ids]),
                                             *(("HGETALL", k.running(i)) for i in ids)]) if ids else [[]]
        by_uid: dict[str, tuple[str, str, dict[bytes, bytes]]] = {}
        for worker_id, raw, running in zip(ids, replies[0], replies[1:], strict=True):
            hostname = json.loads(raw).get("hostname", worker_id) if raw else worker_id
            by_uid[worker_id.rsplit(".", 1)[-1]] = (worker_id, hostname, _mapping(running))
        deadlines = {token.decode(): at for token, at in leases}
        now_ms = look.now * 1000
        out = []
        for token_raw, entry in entries.items():
            token = token_raw.decode()
            _, queue, wire = parse_entry(entry)
            worker_id, hostname, running = by_uid.get(token.split(".", 1)[0], ("", "", {}))
            held = _held(wire, queue, hostname, (deadlines.get(token, now_ms) - now_ms) / 1000, worker_id=worker_id)
            started = running.get(held.id.encode()) if held.id else None
            out.append(held if started is None else dataclasses.replace(held, started_at=int(started) / 1000))
        return sorted(out, key=lambda h: h.enqueued_at)

    def scheduled(self, limit: int = 100, offset: int = 0) -> list[Held]:
        """Messages waiting for their time (countdown, ETA, retry), soonest first, from `offset`:
        one round trip."""
        due, now = self.broker.link.pipeline([("ZRANGE", self.keys.scheduled, offset, offset + limit - 1,
                                               "WITHSCORES"), ("TIME",)])
        now_ms = _seconds(now) * 1000
        out = []
        for member, at in _pairs(due):
            _, queue, wire = parse_entry(member)
            out.append(_held(wire, queue, "", (at - now_ms) / 1000, member=member, due=at))
        return out

    def scheduled_count(self) -> int:
        return self.broker.scheduled.count()

    def scheduled_extent(self) -> tuple[int, float]:
        """How many messages are scheduled and when the last is due (unix ms; 0 if none): what a
        whole-set action covers (control.sweep_scheduled). One round trip."""
        count, last = self.broker.link.pipeline([("ZCARD", self.keys.scheduled),
                                                 ("ZRANGE", self.keys.scheduled, -1, -1, "WITHSCORES")])
        return int(count), float(last[1]) if last else 0.0

    def scheduled_due_by(self, upto: float, limit: int) -> list[bytes]:
        """The soonest `limit` members due at `upto` (unix ms) or before: one round trip."""
        return list(self.broker.link.call("ZRANGEBYSCORE", self.keys.scheduled, "-inf", repr(float(upto)),
                                          "LIMIT", 0, limit))

    def scheduled_members(self, task_ids: Sequence[str], due: Mapping[str, float] | None = None) -> list[bytes]:
        """The members of the scheduled set that carry these task ids, for broker.run_scheduled and
        delete_scheduled, which move exact members. An id given with its due time (the set's
        score, Held.due: a console's rows carry it) is looked for at that score alone, all of them
        in one round trip; not there, it has gone (a member's score never changes: promoted, run or
        deleted meanwhile). The others are looked for in the whole set, SCHEDULED_PAGE a round trip
        from the soonest, until every one is found: ids from the first pages of a list cost a round
        trip or two, an id no longer there a read of the whole set. The set is walked by score,
        not by rank, so messages promoted from its head meanwhile cannot make it skip one."""
        wanted = set(task_ids)
        found: list[bytes] = []

        def take(members: Sequence[bytes]) -> None:
            for member in members:
                task_id = _scheduled_id(member)
                if task_id in wanted:
                    found.append(member)
                    wanted.discard(task_id)

        hinted = [(task_id, due[task_id]) for task_id in task_ids if due and task_id in due]
        if hinted:
            key = self.keys.scheduled
            for members in self.broker.link.pipeline([("ZRANGEBYSCORE", key, repr(float(at)), repr(float(at)))
                                                      for _, at in hinted]):
                take(members)
            wanted -= {task_id for task_id, _ in hinted}
        low, skip = "-inf", 0  # from this score, past the `skip` members at it already read
        while wanted:
            page = _pairs(self.broker.link.call("ZRANGEBYSCORE", self.keys.scheduled, low, "+inf", "WITHSCORES",
                                                "LIMIT", skip, SCHEDULED_PAGE))
            take([member for member, _ in page])
            if len(page) < SCHEDULED_PAGE:
                break
            last = repr(page[-1][1])
            at_last = sum(1 for _, score in page if repr(score) == last)
            skip = skip + at_last if last == low else at_last
            low = last
        return found

    # -- the minute and hour counters ----------------------------------------------------------

    def _window(self, minutes: int) -> list[int]:
        current = int(time.time() // 60)  # this host's clock, as the workers' counts use theirs (metrics.Tally)
        return list(range(current - minutes + 1, current + 1))

    def throughput(self, minutes: int = 60) -> list[tuple[float, int, int]]:
        """(minute start, unix s; tasks succeeded; failed) for each of the last `minutes`, oldest
        first, this one last (so far): one round trip."""
        window = self._window(minutes)
        rows = self.broker.link.pipeline([("HMGET", self.keys.minute(m), "*|SUCCESS", "*|FAILURE") for m in window])
        return [(m * 60.0, int(ok or 0), int(failed or 0)) for m, (ok, failed) in zip(window, rows, strict=True)]

    def throughput_hours(self, hours: int = 24) -> list[tuple[float, int, int]]:
        """As throughput(), an hour a row (kept 8 days): one round trip."""
        current = int(time.time() // 3600)
        window = list(range(current - hours + 1, current + 1))
        rows = self.broker.link.pipeline([("HMGET", self.keys.hour(h), "*|SUCCESS", "*|FAILURE") for h in window])
        return [(h * 3600.0, int(ok or 0), int(failed or 0)) for h, (ok, failed) in zip(window, rows, strict=True)]

    def task_metrics(self, minutes: int = 60) -> list[TaskMetrics]:
        """Each task's outcomes, run time and percentiles over the last `minutes`, the most run time
        first (minutes.py): one round trip, every task's fields of every minute. Past HOURLY_FROM
        minutes, by whole hours (this one so far included): the hour hashes hold the same fields,
        and 24 of them are read much faster than 1,440 minutes."""
        if minutes >= HOURLY_FROM:
            current = int(time.time() // 3600)
            keys = [self.keys.hour(h) for h in range(current - -(-minutes // 60) + 1, current + 1)]
        else:
            keys = [self.keys.minute(m) for m in self._window(minutes)]
        hashes = self.broker.link.pipeline([("HGETALL", key) for key in keys])
        return by_task(_mapping(h) for h in hashes)

    def task_timeline(self, task: str, minutes: int = 60) -> list[MinutePoint]:
        """One task minute by minute, oldest first: outcomes, p50, p95, and the run-time histogram
        (metrics.RUNTIME_BUCKETS) for a heat map: one round trip, that task's fields only."""
        window = self._window(minutes)
        names = task_fields(task)
        rows = self.broker.link.pipeline([("HMGET", self.keys.minute(m), *names) for m in window])
        return [point(m * 60.0, row) for m, row in zip(window, rows, strict=True)]

    # -- Prometheus ----------------------------------------------------------------------------

    def metrics(self) -> Snapshot:
        """What a Prometheus scrape reads (metrics.py): every queue of queue_names() (even empty, so
        its series does not vanish), then everything else: three round trips."""
        link, keys = self.broker.link, self.keys
        look = self._look()
        alive = [w for w in self._workers(look.beats, look.now * 1000) if w.alive]
        names = self._names(look, alive)
        replies = link.pipeline([("HGETALL", keys.stats), ("ZCARD", keys.scheduled), ("HLEN", keys.inflight),
                                 ("ZCARD", keys.dead_order), ("GET", keys.beat_leader()),
                                 *(("ZCARD", keys.queue(q)) for q in names),
                                 *(("ZRANGE", keys.queue(q), 0, 0) for q in names)])
        stats, scheduled, running, dead, leader, *rest = replies
        lengths, heads = rest[:len(names)], rest[len(names):]
        latency = {}
        for name, head in zip(names, heads, strict=True):
            age = _head_age(head, look.now)
            if age is not None:
                latency[name] = age
        decoded = {k.decode(): v.decode() for k, v in _mapping(stats).items()}
        return Snapshot(stats=decoded, queues={q: int(n) for q, n in zip(names, lengths, strict=True)},
                        latency=latency, paused=look.paused, scheduled=int(scheduled), running=int(running),
                        dead=int(dead), beat_leader=leader is not None, workers_alive=len(alive))

    def beat_leader(self) -> str | None:
        """The id of the beat that leads (holds the lease), or None."""
        raw = self.broker.link.call("GET", self.keys.beat_leader())
        return raw.decode() if raw else None

    # -- dead letters --------------------------------------------------------------------------

    def dead_letters(self, limit: int = 50, offset: int = 0) -> list[DeadLetter]:
        """Newest first: two round trips."""
        ids = self.broker.dead.ids(offset, offset + limit - 1)
        return [DeadLetter.parse(raw) for raw in self.broker.dead.records(ids) if raw]

    def dead_letters_matching(self, limit: int = 50, offset: int = 0, reason: str | None = None,
                              task: str | None = None) -> tuple[list[DeadLetter], bool]:
        """A page of the dead letters whose reason and task name contain these texts (any case),
        newest first, and whether there are more. Without a filter, as dead_letters() (one more
        letter read, for `more`). With one, the filter runs here over the whole set, DEAD_PAGE a
        batch (two round trips) from the newest, until the page and one more are found: Redis has
        no index by reason or task. The letters are bounded (DEAD_LETTERS_MAX, 10,000 by default:
        at most 20 round trips); one that arrives meanwhile shifts the ranks, so a letter read twice
        is counted once."""
        if not reason and not task:
            page = self.dead_letters(limit + 1, offset)
            return page[:limit], len(page) > limit
        want_reason, want_task = (reason or "").lower(), (task or "").lower()
        matched: list[DeadLetter] = []
        seen: set[str] = set()
        start = 0
        while len(matched) <= offset + limit:
            newest = self.broker.dead.ids(start, start + DEAD_PAGE - 1)
            start += DEAD_PAGE
            ids = [i for i in newest if i not in seen]
            seen.update(ids)
            batch = [DeadLetter.parse(raw) for raw in self.broker.dead.records(ids) if raw]
            matched += [d for d in batch if want_reason in d.reason.lower() and want_task in d.task.lower()]
            if len(newest) < DEAD_PAGE:
                break
        return matched[offset:offset + limit], len(matched) > offset + limit

    def dead_letter(self, dead_id: str) -> DeadLetter | None:
        [raw] = self.broker.dead.records([dead_id])
        return DeadLetter.parse(raw) if raw else None

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
