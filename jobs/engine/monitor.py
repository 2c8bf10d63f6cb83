"""What operators look at: queues, workers, dead letters. Reads only (every change is the broker's);
the management command and the pages go through here, not through keys. Besides broker.py, the one
module that talks to Redis itself: it reads what no worker needs."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import ResponseError

from .app import App
from .broker import Broker
from .connection import Link
from .errors import DecodeError
from .message import Header, parse_entry
from .metrics import Snapshot
from .redis_setup import Finding, RedisSetup, findings, parse_info

#: A worker whose heartbeat is older than this is shown as gone.
ALIVE_SECONDS = 15


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
        doc = json.loads(raw)
        return cls(doc.get("id", ""), doc.get("task", ""), doc.get("queue", ""), doc.get("reason", ""),
                   float(doc.get("time", 0)), doc.get("worker", ""), doc.get("message", ""),
                   doc.get("task_id") or doc.get("id", ""))


def _pairs(flat: list[Any]) -> list[tuple[bytes, float]]:
    """A WITHSCORES reply as (member, score) pairs."""
    return [(flat[i], float(flat[i + 1])) for i in range(0, len(flat), 2)]


def _flat(reply: list[bytes]) -> list[tuple[bytes, bytes]]:
    return [(reply[i], reply[i + 1]) for i in range(0, len(reply), 2)]


def _redis_ms(link: Link) -> float:
    seconds, micros = link.call("TIME")
    return int(seconds) * 1000 + int(micros) / 1000


def _held(wire: bytes, queue: str, worker: str, seconds: float) -> Held:
    try:
        header = Header(wire.decode("utf-8"))
    except (UnicodeDecodeError, DecodeError):
        return Held("", Header.describe(wire), queue, worker, seconds, 0.0, readable=False)
    return Held(header.id, header.task, queue, worker, seconds, header.enqueued_at)


class Monitor:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.keys = broker.keys

    def redis_setup(self, timeout: float = 2.0) -> RedisSetup:
        """What Redis says of its memory policy and persistence (redis_setup.py judges it), on a
        connection of its own with short timeouts: `manage.py check` must not hang on a Redis that
        does not answer. Raises the connection's errors if it cannot be reached."""
        link = Link(self.broker.factory, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            raw = link.call("INFO", "all")
            info = parse_info(raw.decode() if isinstance(raw, bytes) else str(raw))
            snapshots: bool | None
            try:
                save = link.call("CONFIG", "GET", "save")
                snapshots = bool(save and len(save) > 1 and save[1].strip())
            except ResponseError:  # CONFIG is renamed or refused on managed Redis services
                snapshots = None
        finally:
            link.close()
        return RedisSetup(
            version=info.get("redis_version") or info.get("valkey_version", "?"),
            policy=info.get("maxmemory_policy", "noeviction"),
            maxmemory=int(info.get("maxmemory", "0") or 0),
            appendonly=info.get("aof_enabled", "0") == "1",
            snapshots=snapshots,
        )

    def setup_findings(self, allow_eviction: bool, timeout: float = 2.0) -> list[Finding]:
        """What is wrong with this Redis for jobs (redis_setup.py)."""
        return findings(self.redis_setup(timeout), self.broker.config.broker_url, allow_eviction)

    def queue_names(self) -> list[str]:
        """Every queue that has waiting messages (an empty queue has no key)."""
        link, prefix = self.broker.link, self.keys.queue_prefix
        names, cursor = [], 0
        while True:
            cursor, batch = link.call("SCAN", cursor, "MATCH", prefix.replace("{", "\\{").replace("}", "\\}") + "*",
                                      "COUNT", 1000)
            names += [b.decode()[len(prefix):] for b in batch]
            if int(cursor) == 0:
                break
        return sorted(set(names))

    def queues(self) -> dict[str, int]:
        """Queue name -> waiting messages, for every queue that has any."""
        return {name: self.broker.queue_length(name) for name in self.queue_names()}

    def workers(self) -> list[WorkerInfo]:
        """Every worker with a heartbeat, with its record: two round trips, however many workers."""
        link = self.broker.link
        beats = link.call("ZRANGE", self.keys.workers, 0, -1, "WITHSCORES")
        now_ms = time.time() * 1000
        ids = [beats[i].decode() for i in range(0, len(beats), 2)]
        records = link.call("MGET", *[self.keys.worker(worker_id) for worker_id in ids]) if ids else []
        out = []
        for worker_id, beat, raw in zip(ids, beats[1::2], records, strict=True):
            record = json.loads(raw) if raw else {}
            ago = max(0.0, (now_ms - float(beat)) / 1000)
            out.append(WorkerInfo(worker_id, record.get("hostname", worker_id), record.get("queues", []),
                                  record.get("pool", "?"), record.get("concurrency", 0), ago,
                                  ago <= ALIVE_SECONDS, record))
        return out

    def active(self) -> list[Held]:
        """What the workers hold now (in flight), with the worker of each and its lease left."""
        link = self.broker.link
        entries = link.call("HGETALL", self.keys.inflight)
        deadlines = {token.decode(): at for token, at in _pairs(link.call("ZRANGE", self.keys.leases, 0, -1,
                                                                                 "WITHSCORES"))}
        by_uid = {w.id.rsplit(".", 1)[-1]: w.hostname for w in self.workers() if w.alive}
        now_ms = _redis_ms(link)
        out = []
        for i in range(0, len(entries), 2):
            token = entries[i].decode()
            _, queue, wire = parse_entry(entries[i + 1])
            deadline = deadlines.get(token, now_ms)
            out.append(_held(wire, queue, by_uid.get(token.split(".", 1)[0], ""), (deadline - now_ms) / 1000))
        return sorted(out, key=lambda h: h.enqueued_at)

    def scheduled(self, limit: int = 100) -> list[Held]:
        """The first `limit` messages waiting for their time (countdown, ETA, retry), soonest first."""
        link = self.broker.link
        due = _pairs(link.call("ZRANGE", self.keys.scheduled, 0, limit - 1, "WITHSCORES"))
        now_ms = _redis_ms(link)
        out = []
        for member, at in due:
            _, queue, wire = parse_entry(member)
            out.append(_held(wire, queue, "", (at - now_ms) / 1000))
        return out

    def metrics(self) -> Snapshot:
        """What a Prometheus scrape reads (metrics.py): the queues' names (SCAN), the workers, the
        paused queues, then one pipelined round trip for everything else. A queue a live worker
        consumes, or a paused one, is listed even when empty (0), so its series does not vanish."""
        link, keys = self.broker.link, self.keys
        alive = [w for w in self.workers() if w.alive]
        paused = self.broker.paused()
        names = sorted(set(self.queue_names()) | {q for w in alive for q in w.queues} | set(paused))
        replies = link.pipeline([("HGETALL", keys.stats), ("TIME",), ("ZCARD", keys.scheduled),
                                 ("HLEN", keys.inflight), ("ZCARD", keys.dead_order), ("GET", keys.beat_leader()),
                                 *(("ZCARD", keys.queue(q)) for q in names),
                                 *(("ZRANGE", keys.queue(q), 0, 0) for q in names)])
        stats, (seconds, micros), scheduled, running, dead, leader, *rest = replies
        lengths, heads = rest[:len(names)], rest[len(names):]
        now = int(seconds) + int(micros) / 1e6
        latency = {}
        for name, head in zip(names, heads, strict=True):
            if head:
                try:
                    latency[name] = max(0.0, now - Header(head[0].decode("utf-8")).enqueued_at)
                except (UnicodeDecodeError, DecodeError):
                    pass
        decoded = {k.decode(): v.decode() for k, v in (stats.items() if isinstance(stats, dict) else _flat(stats))}
        return Snapshot(stats=decoded, queues={q: int(n) for q, n in zip(names, lengths, strict=True)},
                        latency=latency, paused=paused, scheduled=int(scheduled), running=int(running), dead=int(dead),
                        beat_leader=leader is not None, workers_alive=len(alive))

    def beat_leader(self) -> str | None:
        """The id of the beat that leads (holds the lease), or None."""
        raw = self.broker.link.call("GET", self.keys.beat_leader())
        return raw.decode() if raw else None

    def unserved_queues(self) -> dict[str, int]:
        """Queues with waiting messages that no live worker consumes: work nobody will do."""
        served = {q for w in self.workers() if w.alive for q in w.queues}
        return {name: n for name, n in self.queues().items() if n and name not in served}

    def dead_letters(self, limit: int = 50, offset: int = 0) -> list[DeadLetter]:
        ids = self.broker.dead_ids(offset, offset + limit - 1)
        return [DeadLetter.parse(raw) for raw in self.broker.dead_records(ids) if raw]

    def dead_letter(self, dead_id: str) -> DeadLetter | None:
        [raw] = self.broker.dead_records([dead_id])
        return DeadLetter.parse(raw) if raw else None

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
