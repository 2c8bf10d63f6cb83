"""What a running deployment holds, read: the reads behind `manage.py jobs status | inspect | dead`, the
console's figures and jobs.control's read calls (Celery's `celery inspect`). Nothing here changes
anything; what changes is jobs.control. They are apart so that the console and the CLI reach Redis
only through these two modules, never through the broker itself (tests/django/test_console_actions.py
checks their source).

Everything reads Redis through the engine's Monitor (engine/ops/monitor.py) and the broker's parts;
the dicts returned are the documented JSON of `--json` (docs/operations.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .engine.api import current, probe_tls, redis_findings, tls_failure

if TYPE_CHECKING:
    from .engine.api import DeadLetter, Finding, Monitor


def monitor() -> Monitor:
    """The read API over the current app's Redis (engine/monitor.py), every shard's: what the console reads. Imported
    here, when first read: every process with the admin imports this module (jobs.control, the admin's
    actions), a worker too, which never reads through it."""
    from .engine.api import Monitor

    return Monitor(current().brokers)


#: Fields of a Held for pages (bytes to decode, the set's score to find a row again), not for a JSON document.
_RAW = ("wire", "member", "due")


def workers() -> list[dict[str, Any]]:
    """Each worker with a heartbeat: id, hostname, queues, pool, concurrency, last_seen (s), alive,
    processed and failed (while its record lives)."""
    return [{key: value for key, value in dataclasses.asdict(w).items() if key != "extra"}
            | {"version": w.extra.get("version"), "pid": w.extra.get("pid"), "started": w.extra.get("started")}
            for w in monitor().workers()]


def active() -> list[dict[str, Any]]:
    """What the workers hold now: id, task, queue, worker (hostname), seconds (lease left), enqueued_at,
    worker_id, started_at (unix s, Redis's clock; None before it starts), running_for (s)."""
    return [_document(h) for h in monitor().active()]


def scheduled(limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """Soonest first: id, task, queue, seconds (until due), enqueued_at."""
    return [_document(h) for h in monitor().scheduled(limit, offset)]


def _document(held: Any) -> dict[str, Any]:
    return {key: value for key, value in dataclasses.asdict(held).items() if key not in _RAW}


def registered() -> dict[str, list[str]]:
    """Live worker hostname -> the task names it has registered (from its record, refreshed every minute)."""
    return {w.hostname: list(w.extra.get("tasks", [])) for w in monitor().workers() if w.alive}


def paused() -> dict[str, float]:
    """Paused queue -> since when (unix time, s); a queue is paused on every shard (jobs.control.pause)."""
    paused: dict[str, float] = {}
    for broker in current().brokers:
        for queue, since in broker.controls.paused().items():
            paused[queue] = min(since, paused.get(queue, since))
    return paused


def queue_length(queue: str) -> int:
    """How many messages wait on `queue` now (what a purge would delete), on every shard."""
    app = current()  # every part of a spread queue (QUEUE_SPREAD) too
    return sum(b.controls.queue_length(part) for part in app.shards.parts(queue) for b in app.brokers)


@dataclass(frozen=True)
class MessageCounts:
    """The counts an overview shows beside the queues: held by workers, scheduled, dead letters."""

    running: int
    scheduled: int
    dead: int


def message_counts() -> MessageCounts:
    brokers = current().brokers
    return MessageCounts(sum(b.deliveries.inflight_count() for b in brokers), sum(b.scheduled.count() for b in brokers),
                         sum(b.dead.count() for b in brokers))


def dead_count() -> int:
    return sum(b.dead.count() for b in current().brokers)


def dead_letters(limit: int = 50, offset: int = 0, reason: str | None = None,
                 task: str | None = None) -> tuple[list[DeadLetter], bool]:
    """A page of the dead letters, newest first, and whether there are more; reason and task keep
    those whose reason and task name contain them (any case). Filters are applied here, over the
    whole set, newest first, until the page is full (Monitor.dead_letters_matching): Redis keeps
    no index by either."""
    return monitor().dead_letters_matching(limit, offset, reason, task)


def dead_ids() -> list[str]:
    """Every dead letter's id, oldest first on each shard, shard after shard (`jobs dead requeue --all`)."""
    return [i for b in current().brokers for i in b.dead.ids(newest_first=False)]


def newest_dead() -> str:
    """The newest dead letter as a bound for purge_dead: what was counted, not what came since. Their
    scores are times (ms), so one bound holds for every shard."""
    return max((b.dead.newest() for b in current().brokers), key=float)


def history_backlog() -> tuple[int, dict[str, int]]:
    """Outcomes waiting in the history stream for the database, and those dropped (backlog full)
    since last reported, by kind (each shard has a stream of its own: summed)."""
    waiting, dropped = 0, dict[str, int]()
    for broker in current().brokers:
        count, kinds = broker.history.waiting()
        waiting += count
        for kind, n in kinds.items():
            dropped[kind] = dropped.get(kind, 0) + n
    return waiting, dropped


def stored_result(task_id: str) -> bytes | None:
    """A task's result document as Redis keeps it (decode_result reads it), or None: the history
    may not have it yet, or keep it no more. It is on the shard its task ran from: each is asked in turn."""
    for broker in current().brokers:
        raw = broker.results.get(task_id)
        if raw is not None:
            return raw
    return None


def shard_layout() -> list[dict[str, Any]]:
    """Each shard (JOBS["SHARDS"]): its number, hash tag, Cluster slot, and the master that owns the
    slot now ("host:port"; None off a Cluster). `manage.py jobs shards`."""
    out = []
    for broker in current().brokers:
        tag, slot, master = broker.placement()
        out.append({"shard": broker.shard, "tag": tag, "slot": slot, "master": master})
    return out


def shared_masters(layout: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Each master of a Redis Cluster that holds more than one shard (shard_layout()), and those shards:
    they share its one CPU, so adding masters spreads less than it could."""
    held: dict[str, list[int]] = {}
    for row in layout:
        if row["master"]:
            held.setdefault(row["master"], []).append(row["shard"])
    return {master: shards for master, shards in sorted(held.items()) if len(shards) > 1}


def setup_findings(allow_eviction: bool, timeout: float = 2.0) -> list[Finding]:
    """What is wrong with this Redis for jobs (its maxmemory policy, its persistence), as runworker,
    runbeat and runrelay check it before they start: the broker's one read (reads.Reads.setup), not
    the Monitor's, so that a worker's start does not import the console's views of Redis (engine/ops)."""
    app = current()
    return redis_findings(app.broker.reads.setup(timeout), app.config.broker_url, allow_eviction)


def tls_problem(exc: BaseException) -> str | None:
    """Why Redis cannot be reached when the reason is TLS (a refused handshake, a certificate),
    found from the error or by probing; None for any other outage, which waiting may end."""
    return tls_failure(exc) or probe_tls(current().broker.factory)
