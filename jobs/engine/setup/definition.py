"""What @task declares: a function, its name, and the options that say how its runs behave.

TaskDefinition is the part of a task that the worker needs: run it, its hooks, retry(), and the
settings of one run resolved from the call's options, the task's and JOBS's (`settings()`). The
sending side (delay, apply_async, signatures) is added by jobs.engine.send.task.Task, a subclass: the
worker never imports it, so running a task and sending one do not depend on each other. What each
option may be is checked by task_options.py, as the task is declared.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import bounds
from ..errors import ConfigurationError, MaxRetriesExceededError, Retry
from ..wire.message_options import NO_MESSAGE_OPTIONS, MessageOptions
from ..wire.names import check_name
from ..wire.options import aware_time, first
from ..wire.outcome import check_state
from ..wire.request import ExceptionInfo, Request, current_reporter, current_request
from . import retry as retry_policy
from .config import Config
from .task_options import MAX_RETRIES, TASK_OPTIONS


@dataclass(frozen=True, slots=True)
class RunSettings:
    """How one run behaves, as the worker needs it (the call's options > the task's > JOBS)."""

    ignore_result: bool
    acks_late: bool
    track_started: bool
    soft_time_limit: float | None
    time_limit: float | None
    #: Its outcome goes to the history (JOBS["HISTORY"] and the task's history=).
    history: bool


class TaskDefinition:
    """A background task as declared. Subclass jobs.Task (which adds sending) and pass base= to share
    behaviour between tasks."""

    name: str = ""
    queue: str | None = None
    priority: int | None = None
    ignore_result: bool | None = None
    acks_late: bool | None = None
    track_started: bool | None = None
    serializer: str | None = None
    expires: float | dt.timedelta | None = None
    bind: bool = False
    #: Retries (Celery's names and defaults): how often, how long between, and which exceptions
    #: retry by themselves.
    max_retries: int | None = 3
    default_retry_delay: float = 180.0
    autoretry_for: tuple[type[BaseException], ...] = ()
    retry_kwargs: dict[str, Any] = {}
    retry_backoff: bool | float = False
    retry_backoff_max: float = 600.0
    retry_jitter: bool = True
    #: Seconds; None = JOBS["TIME_LIMIT"] / JOBS["SOFT_TIME_LIMIT"].
    time_limit: float | None = None
    soft_time_limit: float | None = None
    #: If the process running it dies, run it again (True) or fail it with WorkerLostError.
    reject_on_worker_lost: bool = False
    #: Seconds: while a run with the same arguments (or unique_key) waits or runs, delay() returns
    #: it instead of enqueueing another; the lock lives at most this long.
    unique_for: float | None = None
    #: "100/m", "10/s", "1000/h" (a number: per second), shared by every worker through Redis;
    #: rate_limit_key(*args, **kwargs) -> str gives each key its own budget ("10/s per shop").
    rate_limit: str | float | None = None
    rate_limit_key: Callable[..., str] | None = None
    #: At most this many runs at once across every worker (a slot each, held with the run's lease:
    #: lua/slot.lua); concurrency_key(*args, **kwargs) -> str | int gives each key its own slots.
    concurrency: int | None = None
    concurrency_key: Callable[..., Any] | None = None
    #: Its runs start where the last left off: self.checkpoint(cursor) remembers how far a run got,
    #: and the next delivery's self.request.cursor says so (execution/progress.py, lua/checkpoint.lua).
    resumable: bool = False
    #: False: its runs are not recorded in the history (a chatty task); None = JOBS["HISTORY"].
    history: bool | None = None
    #: Its arguments and result travel and are stored encrypted with the signing keys (wire/sealing.py).
    encrypt: bool = False
    #: Not @task options: set by a class that runs another API's tasks (jobs/backend.py, django.tasks).
    #: keeps_attempts: every start (a lease that ran out counts) and every error is listed in Redis
    #: (keys.attempts), its STARTED recorded whatever TRACK_STARTED says, and its run's request
    #: carries the list (request.attempts). logs_outcome: False leaves its success and failure lines
    #: to whoever logs them instead (Django's own task_finished receiver).
    keeps_attempts: bool = False
    logs_outcome: bool = True
    #: Exceptions this task is expected to raise (Celery's throws): a failure with one is logged at
    #: INFO, without a traceback; it fails the task all the same.
    throws: tuple[type[BaseException], ...] = ()
    #: Check a call's arguments against the function's signature when it is sent (Celery's typing),
    #: so a wrong call fails at delay() rather than in a worker.
    typing: bool = False

    def __init__(self, fn: Callable[..., Any], **options: Any) -> None:
        for key, value in options.items():
            setattr(self, key, value)
        self.fn = fn
        name = options.get("name")
        self.name = f"{fn.__module__}.{fn.__qualname__}" if name is None else name
        check_name(f"task name of {fn.__module__}.{fn.__qualname__}", self.name, ConfigurationError)
        for key, check in TASK_OPTIONS.items():
            check(self.name, key, getattr(self, key, None))
        if isinstance(self.autoretry_for, type):
            self.autoretry_for = (self.autoretry_for,)
        self.autoretry_for = tuple(self.autoretry_for)
        if isinstance(self.throws, type):
            self.throws = (self.throws,)
        self.throws = tuple(self.throws)
        if self.rate_limit_key is not None and (not callable(self.rate_limit_key) or self.rate_limit is None):
            raise ConfigurationError(f"{self.name}: rate_limit_key must be a callable taking the task's arguments, "
                                     "and needs rate_limit (the rate each key gets)")
        if self.concurrency_key is not None and self.concurrency is None:
            raise ConfigurationError(f"{self.name}: concurrency_key needs concurrency (the runs at once each key "
                                     "gets)")
        self.origin = f"{fn.__module__}.{fn.__qualname__}"
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<@task {self.name}>"

    def check_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """typing=True: a call its function could not take is a TypeError now, where it is made."""
        signature = inspect.signature(self.fn)
        if self.bind:
            signature = signature.replace(parameters=list(signature.parameters.values())[1:])
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.name}{signature}: {exc} (@task(typing=True) checks a call when it is "
                            "sent)") from None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.run(*args, **kwargs)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        if self.bind:
            return self.fn(self, *args, **kwargs)
        return self.fn(*args, **kwargs)

    @property
    def request(self) -> Request | None:
        """The request being executed in this thread, or None outside of a task run."""
        return current_request()

    def retry(self, exc: BaseException | None = None, countdown: float | None = None,
              eta: dt.datetime | None = None, max_retries: int | None = None, throw: bool = True,
              **_: Any) -> Retry:
        """Ask the worker to run this task again later: ``raise self.retry(exc=exc, countdown=10)``.

        The worker settles this run with status RETRY and schedules the next one in one step (in
        Redis, like any countdown). Past max_retries, `exc` is raised (the task fails with it), or
        MaxRetriesExceededError when there is none."""
        request = self.request
        if request is None:
            raise RuntimeError(f"{self.name}.retry() can only be called while the task runs (bind=True)")
        if max_retries is not None:
            bounds.integer(max_retries, f"{self.name}: retry(max_retries=...)", low=0, high=MAX_RETRIES)
        if eta is not None:  # an absolute time, turned into a delay on this worker's clock
            countdown = aware_time(self.name, eta).timestamp() - dt.datetime.now(dt.timezone.utc).timestamp()
        if countdown is not None:
            countdown = bounds.seconds(countdown, f"{self.name}: retry(countdown=...)", low=-bounds.MAX_SECONDS)
        limit = self.max_retries if max_retries is None else max_retries
        if not retry_policy.may_retry(request.retries, limit):
            if exc is not None:
                raise exc
            raise MaxRetriesExceededError(f"{self.name}[{request.id}] was retried {request.retries} times; "
                                          f"max_retries={limit}")
        when = self.retry_countdown(request.retries, countdown)
        error = Retry(exc=exc, when=when)
        if throw:
            raise error
        return error

    def update_state(self, task_id: str | None = None, state: str | None = None, meta: Any = None,
                     **_: Any) -> None:
        """Show how a running task is doing: AsyncResult(id).state is `state` and .info is `meta`
        until it ends (Celery's call). Call it as often as you like: updates closer together than
        a quarter of a second are coalesced (worker/progress.py). In EAGER mode it does nothing."""
        request = self.request
        if request is None:
            raise RuntimeError(f"{self.name}.update_state() can only be called while the task runs (bind=True)")
        if task_id is not None and task_id != request.id:
            raise ValueError(f"{self.name}.update_state(task_id={task_id!r}): a task sets its own state only "
                             f"(this run is {request.id}); another task's state is its own to set")
        check_state(self.name, state)
        assert state is not None
        reporter = current_reporter()
        if reporter is not None:
            reporter.update(state, meta)

    def progress(self, current: float, total: float | None = None, message: str = "") -> None:
        """update_state(state="PROGRESS", meta={"current", "total", "percent", "message"}): the
        shape the example's progress bar (and most Celery progress bars) read."""
        percent = round(100.0 * current / total, 1) if total else None
        self.update_state(state="PROGRESS", meta={"current": current, "total": total, "percent": percent,
                                                  "message": message})

    def checkpoint(self, cursor: Any, current: float | None = None, total: float | None = None) -> None:
        """Remember how far this run got (@task(resumable=True, bind=True)): `cursor` (JSON: a number,
        a string, a list or dict of them) is stored before it returns, and a later delivery of this
        task (after a kill, a warm shutdown that handed it back, a retry) finds it in
        self.request.cursor. With `current`, its progress is shown too (self.progress). A run whose
        task was revoked meanwhile stops here (CheckpointStop: REVOKED). In EAGER mode it does nothing
        (nothing is resumed there)."""
        if not self.resumable:
            raise RuntimeError(f"{self.name}.checkpoint() needs @task(resumable=True)")
        if self.request is None:
            raise RuntimeError(f"{self.name}.checkpoint() can only be called while the task runs (bind=True)")
        reporter = current_reporter()
        if reporter is not None:
            reporter.checkpoint(cursor)
        if current is not None:
            self.progress(current, total)

    def retry_countdown(self, retries: int, explicit: float | None = None) -> float:
        return retry_policy.countdown(
            retries, explicit=explicit, retry_backoff=self.retry_backoff,
            retry_backoff_max=self.retry_backoff_max, retry_jitter=self.retry_jitter,
            default_delay=self.default_retry_delay)

    def settings(self, options: MessageOptions, config: Config) -> RunSettings:
        """How a run behaves: the call's options (in its message) win over the task's, which win over
        JOBS's. A chord member keeps its result whatever it says: the callback reads it."""
        if options is NO_MESSAGE_OPTIONS:  # most runs: the task's and JOBS's, the same every time
            cached = self._plain_settings
            if cached is None or cached[0] is not config:
                cached = self._plain_settings = (config, self._settings(options, config))
            return cached[1]
        return self._settings(options, config)

    _plain_settings: tuple[Config, RunSettings] | None = None

    def _settings(self, options: MessageOptions, config: Config) -> RunSettings:
        """Raises ValueError or TypeError for a limit no door lets through (bounds.py): a message
        written by hand or by an older sender; the worker moves it to the dead letters, saying so."""
        for key, limit in (("time_limit", options.time_limit), ("soft_time_limit", options.soft_time_limit)):
            if limit is not None:
                bounds.seconds(limit, f"{self.name}: the message's {key}", above=True)
        ignore = first(options.ignore_result, self.ignore_result, default=config.ignore_result)
        return RunSettings(
            ignore_result=ignore and options.chord is None,
            acks_late=first(self.acks_late, default=config.acks_late),
            track_started=self.keeps_attempts or first(self.track_started, default=config.track_started),
            soft_time_limit=first(options.soft_time_limit, self.soft_time_limit, config.soft_time_limit, default=None),
            time_limit=first(options.time_limit, self.time_limit, config.time_limit, default=None),
            history=config.history and self.history is not False,
        )

    # -- hooks: override in a base class; an exception in one is logged and changes nothing -----

    def on_success(self, retval: Any, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        pass

    def on_failure(self, exc: BaseException, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                   einfo: ExceptionInfo) -> None:
        pass

    def on_retry(self, exc: BaseException, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                 einfo: ExceptionInfo) -> None:
        pass

    def after_return(self, status: str, retval: Any, task_id: str, args: tuple[Any, ...],
                     kwargs: dict[str, Any], einfo: ExceptionInfo | None) -> None:
        pass
