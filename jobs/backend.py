"""Django's own task API (django.tasks, Django 6; the django-tasks backport on 5.2) on jobs.

    TASKS = {"default": {"BACKEND": "jobs.backend.JobsBackend", "QUEUES": ["default", "emails"]}}

A django.tasks Task is a frozen description of a function; `runworker` runs functions registered by
name. So each Task, when Django validates it (its __post_init__ calls validate_task), gets a
TaskDefinition registered under its module path, DjangoTaskDefinition (backend_definition.py): the
worker finds it there, as it finds an @jobs.task, and runs it with the same leases, fencing, limits,
retries, history. Here: the backend, which checks, sends and reads; a result is made from what jobs
keeps in backend_results.py; django.tasks itself (Django 6's or the backport) comes from
backend_framework.py.

What django.tasks asks of a result that jobs does not keep for its own tasks is kept for these:
  - a READY record from the enqueue on: the first entry of the task's attempts list
    (keys.attempts), written by enqueue.lua in the same round trip as the message, with what the
    call was given by .using() (queue_name, priority, run_after, backend): a result read by id,
    and the worker's TaskContext, have the Task as it was called, not its defaults;
  - every start (a lease that ran out counts: started.lua adds each) and every error (the ack adds
    it, lib/ack.lua `a`): worker_ids, attempts, errors, started_at and last_attempted_at read them.
get_result() reads the result document and that list in one round trip.

Priority: Django's -100..100 (higher first) onto ours, 0..9 (9 first), in ten equal bands:
floor((p + 100) * 10 / 201). It never inverts an order: p1 < p2 gives band(p1) <= band(p2); Django's
default 0 is band 4, so on a shared queue it runs before @jobs.task's default 0.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import numbers
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, cast

from django.utils import timezone

from .backend_definition import OPTIONS as OPTIONS
from .backend_definition import DjangoTaskDefinition as DjangoTaskDefinition
from .backend_definition import definition
from .backend_framework import (
    AnyResult,
    BaseTaskBackend,
    InvalidTaskBackend,
    P,
    R,
    Task,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_enqueued,
)
from .backend_framework import InvalidTask as InvalidTask
from .backend_results import STATUS, called_options, ran_here, task_result, when
from .engine.api import (
    PENDING,
    CallOptions,
    build_message,
    current,
    decode_result,
    json_dumps,
    many,
    raw_loads,
    registry,
    send,
    shown,
)

if TYPE_CHECKING:  # django-stubs make Task generic; at run time it takes no parameter
    TaskBase = Task[..., Any]
else:
    TaskBase = Task

_DJANGO_FIELDS = ("func", "priority", "backend", "queue_name", "run_after", "takes_context")


def band(priority: int) -> int:
    """Django's priority (-100..100, higher first) as ours (0..9, 9 first), keeping its order. Django
    takes any whole number in range, 50.0 as well as 50: the band is an int either way."""
    return (int(priority) + 100) * 10 // 201


def check_priority(priority: Any) -> None:
    """What Django's own check (a whole number from -100 to 100) cannot say: it compares first, so a
    string raises TypeError and NaN a ValueError from int(). Those are InvalidTask here, in Django's
    words; every number Django accepts (50, 50.0, True) is left to it."""
    try:
        finite = isinstance(priority, numbers.Number) and math.isfinite(priority)  # type: ignore[arg-type]
    except TypeError:  # a complex number
        finite = False
    if not finite:
        raise InvalidTask(f"priority must be a whole number between -100 and 100, not {shown(priority)}")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class JobsTask(TaskBase):
    """A django.tasks Task that also takes jobs' options: @task(time_limit=30, max_retries=5)."""

    time_limit: float | None = None
    soft_time_limit: float | None = None
    max_retries: int | None = None
    default_retry_delay: float | None = None
    autoretry_for: tuple[type[BaseException], ...] | None = None
    retry_kwargs: dict[str, Any] | None = None
    retry_backoff: bool | float | None = None
    retry_backoff_max: float | None = None
    retry_jitter: bool | None = None
    rate_limit: str | float | None = None
    rate_limit_key: Callable[..., str] | None = None
    unique_for: float | None = None
    acks_late: bool | None = None
    reject_on_worker_lost: bool | None = None
    expires: float | dt.timedelta | None = None
    history: bool | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> JobsTask:
        unknown = set(kwargs) - set(OPTIONS) - set(_DJANGO_FIELDS)
        if unknown:
            func = kwargs.get("func")
            where = f" of {func.__module__}.{func.__qualname__}" if callable(func) else ""
            raise TypeError(f"@task{where} got unknown option(s) {', '.join(sorted(unknown))}; "
                            "jobs.backend.JobsBackend takes Django's (priority, queue_name, backend, takes_context) "
                            f"and {', '.join(OPTIONS)}")
        instance: JobsTask = object.__new__(cls)
        return instance


class JobsBackend(BaseTaskBackend):
    """jobs as a django.tasks backend: a real worker (runworker), results from any process."""

    task_class = JobsTask
    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        queues = params.get("QUEUES")
        if isinstance(queues, (str, bytes)) or (queues is not None and not isinstance(queues, (list, tuple, set))):
            raise InvalidTaskBackend(f"TASKS[{alias!r}]['QUEUES'] is {queues!r}: give a list of queue names, "
                                     "e.g. ['default', 'emails'] (a str would be taken as its characters)")
        super().__init__(alias, params)
        if self.options:
            raise InvalidTaskBackend(f"TASKS[{alias!r}]['OPTIONS'] takes nothing for jobs.backend.JobsBackend "
                                     f"(got {', '.join(map(str, self.options))}); jobs is set up by JOBS, and a task's "
                                     "options are @task(...) keywords")

    def validate_task(self, task: Task[..., Any]) -> None:
        if task.run_after is not None and not isinstance(task.run_after, dt.datetime):
            raise InvalidTask(f"{task.module_path}: run_after is {task.run_after!r}: give a datetime, e.g. "
                              "timezone.now() + timedelta(minutes=5) (aware, with USE_TZ)")
        check_priority(task.priority)
        super().validate_task(task)
        definition(task, type(self))

    def enqueue(self, task: Task[P, R], args: Iterable[Any], kwargs: dict[str, Any]) -> TaskResult[P, R]:
        """One round trip: the message and its READY record (enqueue.lua), through the engine's one
        send path (producer.send: tracing, eager mode, a unique task's lock). Sent at once, whatever
        JOBS["ENQUEUE_ON_COMMIT"] says (django.tasks' enqueue() is immediate; wrap it in
        transaction.on_commit to wait for a commit), but with JOBS["OUTBOX"] inside a transaction:
        then in the outbox, and sent once it commits (task_enqueued then)."""
        self.validate_task(task)
        args, kwargs = list(many.positional(args, task.module_path)), many.keywords(kwargs, task.module_path)
        app = current()
        known = definition(task, type(self))
        run_after = task.run_after
        if run_after is not None and timezone.is_naive(run_after):
            run_after = timezone.make_aware(run_after)
        call = CallOptions.parse(known.name, {"queue": task.queue_name, "priority": band(task.priority),
                                              "eta": run_after})
        message = build_message(app, known, tuple(args), dict(kwargs), call)
        now = time.time()
        result = TaskResult(task=task, id=message.id, status=TaskResultStatus.READY, enqueued_at=when(now),
                            started_at=None, finished_at=None, last_attempted_at=None, args=list(args),
                            kwargs=dict(kwargs), backend=self.alias, errors=[], worker_ids=[])
        stored_args, stored_kwargs, _ = app.redactor.stored(known.fn, message.args, message.kwargs, known.bind)
        record = json_dumps({"q": now, "task": known.name, "args": stored_args, "kwargs": stored_kwargs,
                             "o": called_options(task)})
        announced = False

        def enqueued(results: list[Any]) -> None:  # in Redis now (or, EAGER, about to run here)
            nonlocal announced
            if results and results[0].id == message.id:
                announced = True
                task_enqueued.send(type(self), task_result=result)

        attempts = app.shard_keys[app.shard_of(message.queue)].attempts(message.id)  # on its queue's shard
        [sent] = send(app, [message], on_commit=False, records=[(attempts, record)],
                      announce=enqueued, outbox=app.config.outbox)
        if not announced and sent.id != message.id:
            # A unique task whose lock another run holds: that run (of this task) is the result. Through
            # the outbox nothing is announced yet (task_enqueued comes at commit): the result is its own.
            return cast("TaskResult[P, R]", self.get_result(sent.id))
        if app.config.eager:
            ran_here(sent, result)
        return result

    def get_result(self, result_id: str) -> AnyResult:
        """The task's state from any process: one round trip (its result document and attempts), one
        per shard asked with several (JOBS["SHARDS"]: the id alone does not say which holds it)."""
        many.one(result_id, "result_id", f"TASKS[{self.alias!r}].get_result")
        app = current()
        for broker in app.brokers:
            raw, entries = broker.results.with_attempts(result_id)
            if raw is not None or entries:
                break
        if raw is None and not entries:
            raise TaskResultDoesNotExist(f"no task {result_id!r}: never enqueued here, or its result expired "
                                         f"(JOBS['RESULT_EXPIRES'])")
        attempts = tuple(raw_loads(entry) for entry in entries)
        meta = decode_result(raw, app.config.accept_content) if raw is not None else None
        enqueued: dict[str, Any] = next((entry for entry in attempts if "q" in entry), {})
        name = (meta.task if meta is not None else None) or enqueued.get("task", "")
        known = registry.find(name)
        if not isinstance(known, DjangoTaskDefinition):
            raise TaskResultDoesNotExist(f"task {result_id!r} is a run of {name!r}, which is not a django.tasks task "
                                         "this process has imported")
        args = meta.args if meta is not None and isinstance(meta.args, list) else enqueued.get("args", [])
        kwargs = meta.kwargs if meta is not None and isinstance(meta.kwargs, dict) else enqueued.get("kwargs", {})
        status = STATUS.get(meta.status if meta is not None else PENDING, TaskResultStatus.RUNNING)
        result = task_result(known.django_task, result_id, status, args, kwargs, attempts,
                             backend=enqueued.get("o", {}).get("backend") or self.alias)
        if meta is not None and status in (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED):
            object.__setattr__(result, "finished_at", when(meta.date_done))
        if status == TaskResultStatus.SUCCESSFUL and meta is not None:
            object.__setattr__(result, "_return_value", meta.value)
        return result


__all__ = ["JobsBackend", "JobsTask", "DjangoTaskDefinition", "band"]
