"""Act on a running deployment from Python: what `manage.py jobs inspect | purge | pause | resume |
revoke | retry` do, and what the admin's actions use (Celery's app.control and `celery inspect`).

    from jobs import control
    control.workers()                  # live and gone workers, with their queues
    control.active()                   # what the workers hold now
    control.scheduled()                # what waits for its time (countdown, ETA, retry)
    control.registered()               # worker hostname -> the task names it knows
    control.revoke(["<id>"], terminate=True)
    control.purge("emails")            # -> how many waiting messages were deleted
    control.pause("emails")            # no worker takes from it (cluster-wide) until resume
    control.resume("emails")
    control.paused()                   # {"emails": <paused since, unix time>}
    control.retry("<id>")              # the same call again, as a new task; -> AsyncResult

Everything reads and writes Redis through the engine (broker.py, monitor.py); retry also reads the
task history (TaskResult). The dicts returned are the documented JSON of `--json` (docs/operations.md).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.db import DatabaseError

from .engine.app import current
from .engine.asyncresult import AsyncResult
from .engine.errors import JobsError
from .engine.monitor import Monitor
from .engine.names import check_name
from .engine.producer import send_task
from .engine.results import decode as decode_result
from .engine.serializers import json_loads
from .models import TaskResult


def _monitor() -> Monitor:
    return Monitor(current().broker)


def workers() -> list[dict[str, Any]]:
    """Each worker with a heartbeat: id, hostname, queues, pool, concurrency, last_seen (s), alive."""
    return [{key: value for key, value in dataclasses.asdict(w).items() if key != "extra"}
            | {"version": w.extra.get("version"), "pid": w.extra.get("pid"), "started": w.extra.get("started")}
            for w in _monitor().workers()]


def active() -> list[dict[str, Any]]:
    """What the workers hold now: id, task, queue, worker (hostname), seconds (lease left), enqueued_at."""
    return [dataclasses.asdict(h) for h in _monitor().active()]


def scheduled(limit: int = 100) -> list[dict[str, Any]]:
    """Soonest first: id, task, queue, seconds (until due), enqueued_at."""
    return [dataclasses.asdict(h) for h in _monitor().scheduled(limit)]


def registered() -> dict[str, list[str]]:
    """Live worker hostname -> the task names it has registered (from its record, refreshed every minute)."""
    return {w.hostname: list(w.extra.get("tasks", [])) for w in _monitor().workers() if w.alive}


def revoke(task_ids: list[str], terminate: bool = False) -> int:
    """Keep tasks from running; with terminate, stop them if running (AsyncResult.revoke)."""
    return current().broker.revoke(task_ids, terminate) if task_ids else 0


def purge(queue: str) -> int:
    """Delete every message waiting on `queue`; how many there were. Running, scheduled and dead
    ones stay."""
    check_name("queue", queue, JobsError)
    return current().broker.purge(queue)


def pause(queue: str) -> bool:
    """Stop every worker taking from `queue`, cluster-wide, until resume(): its messages stay,
    senders and beat go on adding to it, running tasks finish. False if it was paused already."""
    check_name("queue", queue, JobsError)
    return current().broker.pause(queue)


def resume(queue: str) -> bool:
    """Let workers take from a paused queue again; False if it was not paused."""
    check_name("queue", queue, JobsError)
    return current().broker.resume(queue)


def paused() -> dict[str, float]:
    """Paused queue -> since when (unix time, s)."""
    return current().broker.paused()


def retry(task_id: str) -> AsyncResult:
    """Send a task again with the arguments it was called with, as a new task whose parent is the
    old one. The arguments come from the task history, else from its extended result in Redis; a
    task whose stored arguments were redacted or cut (REDACT, STORED_ARGS_MAX) cannot be sent again:
    those are not its arguments."""
    try:
        row = TaskResult.objects.filter(task_id=task_id).first()
    except DatabaseError:  # no history here (its migration not run, the database away): Redis may know
        row = None
    if row is not None:
        return send_again(row)
    raw = current().broker.result(task_id)
    if raw is None:
        raise JobsError(f"no task {task_id!r} in the history or in Redis: nothing to send again")
    meta = decode_result(raw, current().config.accept_content)
    if not meta.task or not isinstance(meta.args, list) or not isinstance(meta.kwargs, dict):
        raise JobsError(f"task {task_id!r}: its result does not say what it was called with "
                        "(JOBS['RESULT_EXTENDED'] off?), so it cannot be sent again")
    if _cut(raw):
        raise JobsError(f"{meta.task}[{task_id}]: its stored arguments are redacted or cut (JOBS['REDACT'], "
                        "STORED_ARGS_MAX), so they are not its arguments; not sent")
    return send_task(meta.task, meta.args, meta.kwargs, queue=meta.queue or None, parent_id=task_id)


def send_again(row: TaskResult) -> AsyncResult:
    """A history row's task, again (control.retry, and the admin's "run again")."""
    if not row.args_complete:
        raise JobsError(f"{row.name}[{row.task_id}]: its arguments are stored redacted or cut (JOBS['REDACT'], "
                        "STORED_ARGS_MAX), so they are not its arguments; not sent")
    args = json_loads(row.args or "[]")
    kwargs = json_loads(row.kwargs or "{}")
    return send_task(row.name, args, kwargs, queue=row.queue or None, parent_id=row.task_id)


def _cut(raw: bytes) -> bool:
    return bool(json_loads(raw).get("cut"))
