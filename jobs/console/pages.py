"""What each console page reads. Redis through jobs.inspection (engine.monitor: a few pipelined round
trips a page, never a scan of the keyspace) and the history table (indexed filters, a page at a time,
no COUNT of the whole table); nothing here changes anything (views.py acts, through jobs.control).

Arguments are shown as JOBS["REDACT"] and STORED_ARGS_MAX leave them (redact.py), wherever they come
from: a message in Redis is redacted here exactly as the history stores it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError
from django.db.models import Q, QuerySet
from django.utils import timezone

from .. import inspection
from ..engine.api import (
    RUNTIME_BUCKETS,
    DecodeError,
    Encrypted,
    Held,
    JobsError,
    current,
    decode_message,
    decode_result,
    health,
)
from ..models import TaskResult
from . import charts, params

#: Rows per page of a list (history search, dead letters, scheduled).
PAGE = 50
#: The deepest page a list goes to (?page= beyond it shows this one): 5,000,000 rows in.
MAX_PAGE = 100_000
#: The furthest back the history search looks (?since=, in hours): 100 years.
MAX_SINCE_HOURS = 100 * 366 * 24
PRIORITIES = tuple(range(9, -1, -1))
STATUSES = ("SUCCESS", "FAILURE", "RETRY", "REVOKED", "STARTED", "PENDING")


def args_text(wire: bytes | str | None, queue: str = "") -> str:
    """A message's arguments as the history would store them (redacted, cut), or why not."""
    if not wire:
        return ""
    app = current()
    try:
        message = decode_message(wire, queue, app.config.accept_content)
    except Encrypted:  # @task(encrypt=True): the console has no key, and shows none
        return "encrypted"
    except DecodeError as exc:
        return f"(cannot be read: {exc})"
    known = app.registry.find(message.task)
    return app.redactor.text(known.fn if known else None, message.args, message.kwargs, bool(known and known.bind))


def overview() -> dict[str, Any]:
    monitor = inspection.monitor()
    queues = monitor.queue_details()
    workers = monitor.workers()
    minutes = monitor.throughput(60)
    hours = monitor.throughput_hours(24)
    counts = inspection.message_counts()
    redis = monitor.redis_health()
    return {
        "queues": queues,
        "waiting": sum(q.length for q in queues),
        "paused": [q.name for q in queues if q.paused_since is not None],
        "oldest": max([q.latency for q in queues if q.latency is not None] or [0.0]),
        "running": counts.running,
        "scheduled": counts.scheduled,
        "dead": counts.dead,
        "workers_alive": sum(w.alive for w in workers),
        "workers_gone": sum(not w.alive for w in workers),
        "succeeded_hour": sum(ok for _, ok, _ in minutes),
        "failed_hour": sum(failed for _, _, failed in minutes),
        "chart_hour": charts.throughput(minutes, title="Tasks per minute, last hour"),
        "chart_day": charts.throughput(hours, hourly=True, title="Tasks per hour, last 24 hours"),
        "redis": redis,
        "redis_saved": _when(redis.rdb_last_save),
        "leader": monitor.beat_leader(),
        "outbox": _outbox(),
    }


def _outbox() -> dict[str, Any] | None:
    """The outbox's card (JOBS["OUTBOX"]): what waits, its oldest, what was set aside."""
    app = current()
    if not (app.config.outbox and app.outbox is not None):
        return None
    try:
        backlog = app.outbox.backlog()
    except DatabaseError:
        return None
    age = 0.0 if backlog.oldest is None else max(0.0, time.time() - backlog.oldest)
    return {"waiting": backlog.waiting, "oldest": age, "dead": backlog.dead, "stuck": age > health.OUTBOX_STUCK_SECONDS}


def queues() -> dict[str, Any]:
    rows = [{**dataclasses.asdict(q), "priority_row": [q.by_priority.get(p, 0) for p in PRIORITIES],
             "paused_at": _when(q.paused_since)} for q in inspection.monitor().queue_details()]
    return {"queues": rows, "priorities": PRIORITIES, "slots": inspection.monitor().slots()}


def workers() -> dict[str, Any]:
    monitor = inspection.monitor()
    held = monitor.active()
    by_worker: dict[str, list[Any]] = {}
    for h in held:
        by_worker.setdefault(h.worker_id or h.worker, []).append(_running_row(h))
    rows = []
    paused = inspection.paused()
    for w in sorted(monitor.workers(), key=lambda w: (not w.alive, w.hostname)):
        rows.append({"info": w, "version": w.extra.get("version", ""), "pid": w.extra.get("pid", ""),
                     "started": _when(w.extra.get("started")),
                     "queues": [(q, q in paused) for q in w.queues],
                     "running": by_worker.get(w.id) or by_worker.get(w.hostname) or []})
    return {"workers": rows}


def _running_row(h: Held) -> dict[str, Any]:
    lease = current().config.lease_seconds
    return {"held": h, "args": args_text(h.wire, h.queue),
            "runtime": h.running_for,
            "lease_age": max(0.0, lease - h.seconds)}


def running() -> dict[str, Any]:
    return {"running": [_running_row(h) for h in inspection.monitor().active()]}


def scheduled(page: int) -> dict[str, Any]:
    monitor = inspection.monitor()
    rows = monitor.scheduled(PAGE + 1, page * PAGE)
    return {"scheduled": [{"held": h, "args": args_text(h.wire, h.queue)} for h in rows[:PAGE]],
            "page": page, "has_next": len(rows) > PAGE, "total": monitor.scheduled_count()}


@dataclass
class Search:
    """The history search's fields, as given (GET)."""

    q: str = ""  # a task id, or words of a task name
    status: str = ""
    queue: str = ""
    worker: str = ""
    args: str = ""  # a text to find in the arguments (as stored: redacted)
    since: str = ""  # hours back, or ""
    page: int = 0

    @classmethod
    def of(cls, get: Any) -> Search:
        """The fields as given, each through params (BadParameter for one that cannot be used)."""
        since = params.integer(get, "since", -1, 0, MAX_SINCE_HOURS)
        return cls(q=params.text(get, "q"), status=params.text(get, "status"), queue=params.text(get, "queue"),
                   worker=params.text(get, "worker"), args=params.text(get, "args"),
                   since="" if since < 0 else str(since), page=params.integer(get, "page", 0, 0, MAX_PAGE))

    def rows(self) -> QuerySet[TaskResult]:
        rows = TaskResult.objects.all()
        if self.q:
            rows = rows.filter(Q(task_id=self.q) | Q(name__icontains=self.q) | Q(parent_id=self.q))
        if self.status in STATUSES:
            rows = rows.filter(status=self.status)
        if self.queue:
            rows = rows.filter(queue=self.queue)
        if self.worker:
            rows = rows.filter(worker__icontains=self.worker)
        if self.args:
            rows = rows.filter(Q(args__contains=self.args) | Q(kwargs__contains=self.args))
        if self.since:
            rows = rows.filter(date_done__gte=timezone.now() - dt.timedelta(hours=int(self.since)))
        return rows.order_by("-date_done", "-id")


def tasks(search: Search) -> dict[str, Any]:
    found = list(search.rows()[search.page * PAGE:(search.page + 1) * PAGE + 1])
    live = None
    if search.q and not any(row.task_id == search.q for row in found):
        live = _live(search.q)  # not recorded (yet): what Redis knows of that id
    return {"search": search, "page": search.page, "rows": found[:PAGE], "has_next": len(found) > PAGE,
            "live": live,
            "statuses": STATUSES, "since_choices": (("1", "last hour"), ("24", "last day"), ("168", "last week"))}


def _live(task_id: str) -> dict[str, Any] | None:
    raw = inspection.stored_result(task_id)
    if raw is None:
        return None
    meta = decode_result(raw, current().config.accept_content)
    return {"id": task_id, "meta": meta, "done": _when(meta.date_done)}


def task(task_id: str) -> dict[str, Any]:
    row = TaskResult.objects.filter(task_id=task_id).first()
    live = _live(task_id)
    children = list(TaskResult.objects.filter(parent_id=task_id).order_by("date_enqueued", "id")[:100])
    parent = TaskResult.objects.filter(task_id=row.parent_id).first() if row and row.parent_id else None
    timeline = []
    if row is not None:
        timeline = [(label, when) for label, when in (("enqueued", row.date_enqueued), ("started", row.date_started),
                                                      (row.status.lower(), row.date_done)) if when]
    progress = None
    if live and live["meta"].status not in ("SUCCESS", "FAILURE", "REVOKED", "RETRY"):
        progress = live["meta"].meta
    return {"row": row, "live": live, "children": children, "parent": parent, "timeline": timeline,
            "progress": progress, "task_id": task_id}


def dead(reason: str, task_name: str, page: int) -> dict[str, Any]:
    letters, has_next = inspection.dead_letters(PAGE, page * PAGE, reason=reason or None, task=task_name or None)
    rows = [{**dataclasses.asdict(d), "when": _when(d.time)} for d in letters]
    return {"letters": rows, "reason": reason, "task": task_name, "page": page, "has_next": has_next,
            "total": inspection.dead_count()}


def dead_letter(dead_id: str) -> dict[str, Any]:
    letter = inspection.monitor().dead_letter(dead_id)
    return {"letter": letter, "args": args_text(letter.message, letter.queue) if letter else "",
            "when": _when(letter.time) if letter else None}


def metrics(minutes: int) -> dict[str, Any]:
    return {"tasks": inspection.monitor().task_metrics(minutes), "minutes": minutes,
            "windows": ((15, "15 minutes"), (60, "hour"), (360, "6 hours"), (1440, "24 hours"))}


def metric(task_name: str, minutes: int) -> dict[str, Any]:
    points = inspection.monitor().task_timeline(task_name, minutes)
    chart = charts.heatmap([p.start for p in points], [p.histogram for p in points], RUNTIME_BUCKETS,
                           [p.p95 for p in points], title=f"Run times of {task_name}, per minute")
    bars = charts.throughput([(p.start, p.succeeded, p.failed) for p in points],
                             title=f"Runs of {task_name} per minute")
    return {"task": task_name, "points": points, "heatmap": chart, "bars": bars, "minutes": minutes,
            "succeeded": sum(p.succeeded for p in points), "failed": sum(p.failed for p in points)}


def periodic() -> dict[str, Any]:
    from ..models import PeriodicTask

    rows = []
    for row in PeriodicTask.objects.filter(enabled=True).select_related("schedule").order_by("name")[:200]:
        try:
            nxt = row.next_run()
        except (JobsError, ValueError, ArithmeticError):
            nxt = None
        rows.append({"p": row, "next": nxt})
    return {"leader": inspection.monitor().beat_leader(), "periodic": rows}


def _when(ts: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(float(ts), dt.timezone.utc) if ts else None
    except (TypeError, ValueError):
        return None
