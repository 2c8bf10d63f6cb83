"""A django.tasks TaskResult made from what jobs keeps of a run: the task's attempts list (keys.attempts:
its enqueue, each start, each error), its result document, or, in EAGER mode, the run just made here.
Apart from backend.py, which sends and reads: this is only the mapping, the same for a result read by
id (JobsBackend.get_result), for the worker's TaskContext and for Django's signals
(backend_definition.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from typing import Any

from django.conf import settings

from .backend_framework import AnyResult, AnyTask, TaskError, TaskResult, TaskResultStatus
from .engine.api import FAILURE, PENDING, RETRY, REVOKED, STARTED, SUCCESS

#: What .using() changes: kept with each call (its READY record), to give back the Task as called.
CALLED = ("queue_name", "priority", "backend", "run_after")

#: Our result states as django.tasks states: a retry waits to run again (READY); a custom state
#: (update_state, progress) is a run going on (RUNNING, the default).
STATUS = {PENDING: TaskResultStatus.READY, RETRY: TaskResultStatus.READY, STARTED: TaskResultStatus.RUNNING,
          SUCCESS: TaskResultStatus.SUCCESSFUL, FAILURE: TaskResultStatus.FAILED, REVOKED: TaskResultStatus.FAILED}


def task_result(task: AnyTask, task_id: str, status: Any, args: list[Any], kwargs: dict[str, Any],
                attempts: tuple[dict[str, Any], ...], backend: str | None = None,
                fallback_worker: str = "") -> AnyResult:
    """A TaskResult from a task's attempts list (keys.attempts: {"q"} its enqueue, with "o" the
    call's .using() options, {"w", "t"} each start, {"e", "tb"} each error)."""
    starts = [entry for entry in attempts if "w" in entry]
    enqueued = next((entry["q"] for entry in attempts if "q" in entry), None)
    task = as_called(task, next((entry.get("o") for entry in attempts if "q" in entry), None))
    workers = [str(entry["w"]) for entry in starts] or ([fallback_worker] if fallback_worker else [])
    first = starts[0]["t"] if starts else None
    last = starts[-1]["t"] if starts else None
    if first is None and fallback_worker:  # run here with no list kept (EAGER mode)
        first = last = time.time()
    errors = [TaskError(exception_class_path=str(entry["e"]), traceback=str(entry.get("tb", "")))
              for entry in attempts if "e" in entry]
    return TaskResult(task=task, id=task_id, status=status, enqueued_at=when(enqueued), started_at=when(first),
                      finished_at=None, last_attempted_at=when(last), args=args, kwargs=kwargs,
                      backend=backend or task.backend, errors=errors, worker_ids=workers)


def called_options(task: AnyTask) -> dict[str, Any]:
    """What .using() can change, as the call had it, for its READY record (run_after as ISO 8601:
    aware or naive, as given)."""
    options = {name: getattr(task, name) for name in CALLED}
    if options["run_after"] is not None:
        options["run_after"] = options["run_after"].isoformat()
    return options


def as_called(task: AnyTask, options: dict[str, Any] | None) -> AnyTask:
    """The Task as a call used it: `task` with the call's queue_name, priority, run_after and
    backend (its READY record's "o"). A copy made as Django's own code changes a frozen result
    (object.__setattr__), not through replace(): the Task was validated when it was enqueued, and
    a result must stay readable even where that backend alias is not configured (another process's
    TASKS)."""
    if not options:
        return task  # enqueued before the options were kept: the task's own
    called = {name: options[name] for name in CALLED if name in options}
    if called.get("run_after") is not None:
        called["run_after"] = dt.datetime.fromisoformat(called["run_after"])
    if all(getattr(task, name) == value for name, value in called.items()):
        return task
    copy = object.__new__(type(task))
    for field in dataclasses.fields(task):
        object.__setattr__(copy, field.name, called.get(field.name, getattr(task, field.name)))
    return copy


def ran_here(eager: Any, result: AnyResult) -> None:
    """EAGER mode: the run made inline by the send (eager.py), as the worker would; `result` is now final."""
    meta = eager._meta
    assert meta is not None
    now = when(time.time())
    object.__setattr__(result, "started_at", now)
    object.__setattr__(result, "last_attempted_at", now)
    object.__setattr__(result, "finished_at", now)
    result.worker_ids.append("eager")
    if meta.status == SUCCESS:
        object.__setattr__(result, "status", TaskResultStatus.SUCCESSFUL)
        object.__setattr__(result, "_return_value", meta.value)
        return
    object.__setattr__(result, "status", TaskResultStatus.FAILED)
    if meta.exception is not None:
        result.errors.append(TaskError(exception_class_path=class_path(type(meta.exception)),
                                       traceback=meta.traceback or ""))


def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def when(timestamp: float | None) -> dt.datetime | None:
    """A Unix time as Django's timezone.now() gives times: aware UTC, or naive local without USE_TZ."""
    if timestamp is None:
        return None
    if settings.USE_TZ:
        return dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc)
    return dt.datetime.fromtimestamp(timestamp)
