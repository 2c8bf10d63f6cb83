"""A django.tasks Task as the worker runs it. A Task is a frozen description of a function, and
`runworker` runs functions registered by name: so each Task, when Django validates it, gets a
TaskDefinition registered under its module path (DjangoTaskDefinition), which the worker finds as it
finds an @jobs.task and runs with the same leases, fencing, limits, retries and history. Apart from
backend.py, which sends and reads results: this is what runs, in the worker."""

from __future__ import annotations

import inspect
import threading
import time
from typing import Any

from .backend_framework import (
    AnyResult,
    AnyTask,
    BaseTaskBackend,
    InvalidTask,
    TaskContext,
    TaskError,
    TaskResultStatus,
    normalize_json,
    task_finished,
    task_started,
)
from .backend_results import class_path, task_result, when
from .engine.api import RETRY, SUCCESS, ConfigurationError, TaskDefinition, registry

#: The options of ours a django.tasks @task takes (Django 6.1 passes @task's extra keywords to the
#: backend's task_class); each means what it means on @jobs.task. Not here: name (the module path),
#: queue and priority (Django's own), bind (takes_context), serializer (JSON), ignore_result and
#: track_started (a django.tasks result is always kept, its start recorded).
OPTIONS = ("time_limit", "soft_time_limit", "max_retries", "default_retry_delay", "autoretry_for", "retry_kwargs",
           "retry_backoff", "retry_backoff_max", "retry_jitter", "rate_limit", "rate_limit_key", "unique_for",
           "acks_late", "reject_on_worker_lost", "expires", "history")


class DjangoTaskDefinition(TaskDefinition):
    """A django.tasks Task as the worker runs it: its function called with a TaskContext if it takes
    one, its return value made JSON as Django's backends make it, Django's signals sent."""

    keeps_attempts = True
    logs_outcome = False  # Django's task_finished receiver logs each outcome (with the traceback)
    ignore_result = False

    def __init__(self, task: AnyTask, backend: type[BaseTaskBackend]) -> None:
        options = {name: getattr(task, name) for name in OPTIONS if getattr(task, name, None) is not None}
        super().__init__(task.func, name=task.module_path, bind=task.takes_context, **options)
        self.django_task = task
        self.backend_class = backend
        #: The TaskResult each run in this process began with, by id, for its task_finished.
        self._running: dict[str, AnyResult] = {}
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
        object.__setattr__(result, "finished_at", when(time.time()))
        if status == SUCCESS:
            object.__setattr__(result, "_return_value", retval)
        elif einfo is not None:
            result.errors.append(TaskError(exception_class_path=class_path(type(einfo.exception)),
                                           traceback=einfo.traceback))
        exception = getattr(einfo, "exception", None)
        if exception is None or exception.__traceback__ is None:
            task_finished.send(sender=self.backend_class, task_result=result)
            return
        try:  # Django's receiver logs the traceback of the exception being handled, as its backends send it
            raise exception
        except BaseException:
            task_finished.send(sender=self.backend_class, task_result=result)


_DEFINITIONS: dict[str, DjangoTaskDefinition] = {}
_DEFINITIONS_LOCK = threading.Lock()


def definition(task: AnyTask, backend: type[BaseTaskBackend]) -> DjangoTaskDefinition:
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


def _options(task: AnyTask) -> tuple[Any, ...]:
    return tuple(getattr(task, name, None) for name in OPTIONS)
