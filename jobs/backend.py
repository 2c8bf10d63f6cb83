"""Django's own task API (django.tasks, Django 6; the django-tasks backport on 5.2) on jobs.

    TASKS = {"default": {"BACKEND": "jobs.backend.JobsBackend", "QUEUES": ["default", "emails"]}}

A django.tasks Task is a frozen description of a function; `runworker` runs functions registered by
name. So each Task, when Django validates it (its __post_init__ calls validate_task), gets a
TaskDefinition registered under its module path, DjangoTaskDefinition: the worker finds it there,
as it finds an @jobs.task, and runs it with the same leases, fencing, limits, retries, history.

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
import inspect
import math
import numbers
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.utils import timezone

from .engine.api import (
    FAILURE,
    PENDING,
    RETRY,
    REVOKED,
    STARTED,
    SUCCESS,
    CallOptions,
    ConfigurationError,
    TaskDefinition,
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

try:  # Django 6
    from django.tasks import Task, TaskResult, TaskResultStatus
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import TaskContext, TaskError
    from django.tasks.exceptions import InvalidTask, InvalidTaskBackend, TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started
    from django.utils.json import normalize_json
except ImportError:  # Django 5.2 with the django-tasks backport (pip install "django-jobs[django-tasks]")
    from django_tasks import TaskResult, TaskResultStatus  # type: ignore[no-redef,unused-ignore]
    from django_tasks.backends.base import BaseTaskBackend  # type: ignore[no-redef,unused-ignore]
    from django_tasks.base import Task, TaskContext, TaskError  # type: ignore[no-redef,unused-ignore]
    from django_tasks.exceptions import (  # type: ignore[no-redef,unused-ignore]
        InvalidTaskBackendError as InvalidTaskBackend,
    )
    from django_tasks.exceptions import InvalidTaskError as InvalidTask  # type: ignore[no-redef,unused-ignore]
    from django_tasks.exceptions import TaskResultDoesNotExist  # type: ignore[no-redef,unused-ignore]
    from django_tasks.signals import (  # type: ignore[no-redef,unused-ignore]
        task_enqueued,
        task_finished,
        task_started,
    )
    from django_tasks.utils import normalize_json  # type: ignore[no-redef,unused-ignore]

#: The options of ours a django.tasks @task takes (Django 6.1 passes @task's extra keywords to the
#: backend's task_class); each means what it means on @jobs.task. Not here: name (the module path),
#: queue and priority (Django's own), bind (takes_context), serializer (JSON), ignore_result and
#: track_started (a django.tasks result is always kept, its start recorded).
OPTIONS = ("time_limit", "soft_time_limit", "max_retries", "default_retry_delay", "autoretry_for", "retry_kwargs",
           "retry_backoff", "retry_backoff_max", "retry_jitter", "rate_limit", "rate_limit_key", "unique_for",
           "acks_late", "reject_on_worker_lost", "expires", "history")
_DJANGO_FIELDS = ("func", "priority", "backend", "queue_name", "run_after", "takes_context")
#: What .using() changes: kept with each call (its READY record), to give back the Task as called.
_CALLED = ("queue_name", "priority", "backend", "run_after")


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
class JobsTask(Task):  # type: ignore[misc,unused-ignore]
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


class DjangoTaskDefinition(TaskDefinition):
    """A django.tasks Task as the worker runs it: its function called with a TaskContext if it takes
    one, its return value made JSON as Django's backends make it, Django's signals sent."""

    keeps_attempts = True
    logs_outcome = False  # Django's task_finished receiver logs each outcome (with the traceback)
    ignore_result = False

    def __init__(self, task: Task, backend: type[JobsBackend]) -> None:
        options = {name: getattr(task, name) for name in OPTIONS if getattr(task, name, None) is not None}
        super().__init__(task.func, name=task.module_path, bind=task.takes_context, **options)
        self.django_task = task
        self.backend_class = backend
        #: The TaskResult each run in this process began with, by id, for its task_finished.
        self._running: dict[str, TaskResult] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<django.tasks task {self.name}>"

    def run(self, *args: Any, **kwargs: Any) -> Any:
        request = self.request
        assert request is not None
        result = task_result(self.django_task, request.id, TaskResultStatus.RUNNING, list(args), kwargs,
                             request.attempts, fallback_worker=request.hostname or "")
        with self._lock:
            self._running[request.id] = result
        task_started.send(sender=self.backend_class, task_result=result)
        call_args = (TaskContext(task_result=result), *args) if self.django_task.takes_context else args
        func = self.django_task.func
        if inspect.iscoroutinefunction(func):
            async def run_async() -> Any:
                return normalize_json(await func(*call_args, **kwargs))
            return run_async()
        return normalize_json(func(*call_args, **kwargs))

    def after_return(self, status: str, retval: Any, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                     einfo: Any) -> None:
        """Django's task_finished, once, for the run that ends the task (a retry does not)."""
        with self._lock:
            result = self._running.pop(task_id, None)
        if status == RETRY:
            return
        if result is None:  # ended from outside its run (the supervisor killed it), or never started here
            result = task_result(self.django_task, task_id, TaskResultStatus.RUNNING, list(args), kwargs, ())
        finished = TaskResultStatus.SUCCESSFUL if status == SUCCESS else TaskResultStatus.FAILED
        object.__setattr__(result, "status", finished)
        object.__setattr__(result, "finished_at", _when(time.time()))
        if status == SUCCESS:
            object.__setattr__(result, "_return_value", retval)
        elif einfo is not None:
            result.errors.append(TaskError(exception_class_path=_path(type(einfo.exception)),
                                           traceback=einfo.traceback))
        exception = getattr(einfo, "exception", None)
        if exception is None or exception.__traceback__ is None:
            task_finished.send(sender=self.backend_class, task_result=result)
            return
        try:  # Django's receiver logs the traceback of the exception being handled, as its backends send it
            raise exception
        except BaseException:
            task_finished.send(sender=self.backend_class, task_result=result)


class JobsBackend(BaseTaskBackend):  # type: ignore[misc,unused-ignore]
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

    def validate_task(self, task: Task) -> None:
        if task.run_after is not None and not isinstance(task.run_after, dt.datetime):
            raise InvalidTask(f"{task.module_path}: run_after is {task.run_after!r}: give a datetime, e.g. "
                              "timezone.now() + timedelta(minutes=5) (aware, with USE_TZ)")
        check_priority(task.priority)
        super().validate_task(task)
        definition(task, type(self))

    def enqueue(self, task: Task, args: Iterable[Any], kwargs: dict[str, Any]) -> TaskResult:
        """One round trip: the message and its READY record (enqueue.lua), through the engine's one
        send path (producer.send: tracing, eager mode, a unique task's lock). Sent at once, whatever
        JOBS["ENQUEUE_ON_COMMIT"] says (django.tasks' enqueue() is immediate; wrap it in
        transaction.on_commit to wait for a commit)."""
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
        result = TaskResult(task=task, id=message.id, status=TaskResultStatus.READY, enqueued_at=_when(now),
                            started_at=None, finished_at=None, last_attempted_at=None, args=list(args),
                            kwargs=dict(kwargs), backend=self.alias, errors=[], worker_ids=[])
        stored_args, stored_kwargs, _ = app.redactor.stored(known.fn, message.args, message.kwargs, known.bind)
        record = json_dumps({"q": now, "task": known.name, "args": stored_args, "kwargs": stored_kwargs,
                             "o": _called_options(task)})
        announced = False

        def enqueued(results: list[Any]) -> None:  # in Redis now (or, EAGER, about to run here)
            nonlocal announced
            if results and results[0].id == message.id:
                announced = True
                task_enqueued.send(type(self), task_result=result)

        [sent] = send(app, [message], on_commit=False, records=[(app.keys.attempts(message.id), record)],
                      announce=enqueued)
        if not announced:  # a unique task whose lock another run holds: that run is the result
            return self.get_result(sent.id)
        if app.config.eager:
            _ran_here(sent, result)
        return result

    def get_result(self, result_id: str) -> TaskResult:
        """The task's state from any process: one round trip (its result document and attempts)."""
        many.one(result_id, "result_id", f"TASKS[{self.alias!r}].get_result")
        app = current()
        raw, entries = app.broker.results.with_attempts(result_id)
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
        status = _STATUS.get(meta.status if meta is not None else PENDING, TaskResultStatus.RUNNING)
        result = task_result(known.django_task, result_id, status, args, kwargs, attempts,
                             backend=enqueued.get("o", {}).get("backend") or self.alias)
        if meta is not None and status in (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED):
            object.__setattr__(result, "finished_at", _when(meta.date_done))
        if status == TaskResultStatus.SUCCESSFUL and meta is not None:
            object.__setattr__(result, "_return_value", meta.value)
        return result


#: Our result states as django.tasks states: a retry waits to run again (READY); a custom state
#: (update_state, progress) is a run going on (RUNNING, the default).
_STATUS = {PENDING: TaskResultStatus.READY, RETRY: TaskResultStatus.READY, STARTED: TaskResultStatus.RUNNING,
           SUCCESS: TaskResultStatus.SUCCESSFUL, FAILURE: TaskResultStatus.FAILED, REVOKED: TaskResultStatus.FAILED}

_DEFINITIONS: dict[str, DjangoTaskDefinition] = {}
_DEFINITIONS_LOCK = threading.Lock()


def definition(task: Task, backend: type[JobsBackend]) -> DjangoTaskDefinition:
    """The registered definition of a django.tasks Task (made and registered the first time one of
    its function is validated: at import, by @task; .using() copies find it again)."""
    name = task.module_path
    with _DEFINITIONS_LOCK:
        known = _DEFINITIONS.get(name)
        if known is not None and known.django_task.func is task.func and _options(known.django_task) == _options(task):
            return known  # the usual case: the Task @task made, or a .using() copy of it
        try:
            made = DjangoTaskDefinition(task, backend)
        except ConfigurationError as exc:
            raise InvalidTask(str(exc)) from exc
        if known is not None:  # decorated again (a reload, or a test): the newest declaration runs
            registry.unregister(name)
        registry.register(made)
        _DEFINITIONS[name] = made
        return made


def _options(task: Task) -> tuple[Any, ...]:
    return tuple(getattr(task, name, None) for name in OPTIONS)


def task_result(task: Task, task_id: str, status: Any, args: list[Any], kwargs: dict[str, Any],
                attempts: tuple[dict[str, Any], ...], backend: str | None = None,
                fallback_worker: str = "") -> TaskResult:
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
    return TaskResult(task=task, id=task_id, status=status, enqueued_at=_when(enqueued), started_at=_when(first),
                      finished_at=None, last_attempted_at=_when(last), args=args, kwargs=kwargs,
                      backend=backend or task.backend, errors=errors, worker_ids=workers)


def _called_options(task: Task) -> dict[str, Any]:
    """What .using() can change, as the call had it, for its READY record (run_after as ISO 8601:
    aware or naive, as given)."""
    options = {name: getattr(task, name) for name in _CALLED}
    if options["run_after"] is not None:
        options["run_after"] = options["run_after"].isoformat()
    return options


def as_called(task: Task, options: dict[str, Any] | None) -> Task:
    """The Task as a call used it: `task` with the call's queue_name, priority, run_after and
    backend (its READY record's "o"). A copy made as Django's own code changes a frozen result
    (object.__setattr__), not through replace(): the Task was validated when it was enqueued, and
    a result must stay readable even where that backend alias is not configured (another process's
    TASKS)."""
    if not options:
        return task  # enqueued before the options were kept: the task's own
    called = {name: options[name] for name in _CALLED if name in options}
    if called.get("run_after") is not None:
        called["run_after"] = dt.datetime.fromisoformat(called["run_after"])
    if all(getattr(task, name) == value for name, value in called.items()):
        return task
    copy = object.__new__(type(task))
    for field in dataclasses.fields(task):
        object.__setattr__(copy, field.name, called.get(field.name, getattr(task, field.name)))
    return copy


def _ran_here(eager: Any, result: TaskResult) -> None:
    """EAGER mode: the run made inline by the send (eager.py), as the worker would; `result` is now final."""
    meta = eager._meta
    assert meta is not None
    now = _when(time.time())
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
        result.errors.append(TaskError(exception_class_path=_path(type(meta.exception)),
                                       traceback=meta.traceback or ""))


def _path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _when(timestamp: float | None) -> dt.datetime | None:
    """A Unix time as Django's timezone.now() gives times: aware UTC, or naive local without USE_TZ."""
    if timestamp is None:
        return None
    if settings.USE_TZ:
        return dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc)
    return dt.datetime.fromtimestamp(timestamp)


__all__ = ["JobsBackend", "JobsTask", "DjangoTaskDefinition", "band"]
