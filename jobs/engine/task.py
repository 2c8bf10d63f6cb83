"""@task and Task: declaring a function as a background task, and sending calls of it.

``@task`` wraps a function in a Task (or the class given as base=) and registers it by name.
Calling the task runs the function here, as before; .delay()/.apply_async() encode the call into a
Message and enqueue it in one Redis round trip, or, in EAGER mode, run it inline through the same
code path a worker uses (arguments still go through the serializer, so tests catch what production
would refuse).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import app as app_module
from . import retry as retry_policy
from .asyncresult import AsyncResult as _AsyncResult  # the name Task.AsyncResult shadows
from .asyncresult import PendingEagerResult
from .config import check_name
from .errors import ConfigurationError, MaxRetriesExceededError, Retry
from .message import MAX_PRIORITY, Message
from .registry import registry
from .routing import NO_ROUTE

_request: contextvars.ContextVar[Request | None] = contextvars.ContextVar("jobs_request", default=None)

#: Options @task accepts; anything else is a TypeError, so a typo is not silently ignored.
TASK_OPTIONS = frozenset({
    "name", "queue", "priority", "ignore_result", "acks_late", "track_started", "serializer",
    "expires", "bind", "base", "max_retries", "default_retry_delay", "autoretry_for", "retry_kwargs",
    "retry_backoff", "retry_backoff_max", "retry_jitter", "time_limit", "soft_time_limit",
    "reject_on_worker_lost", "unique_for", "rate_limit", "rate_limit_key",
})


@dataclass(frozen=True, slots=True)
class ExceptionInfo:
    """What on_failure/on_retry get as `einfo` (Celery's name): the exception and its traceback text."""

    exception: BaseException
    traceback: str

    @property
    def type(self) -> type[BaseException]:
        return type(self.exception)


@dataclass(frozen=True, slots=True)
class Request:
    """What a bound task sees as self.request while it runs."""

    id: str
    task: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str | None = None
    eta: float | None = None
    expires: float | None = None
    retries: int = 0
    delivery_count: int = 1
    hostname: str | None = None
    is_eager: bool = False


class Task:
    """A background task. Subclass it and pass base= to share behaviour between tasks."""

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

    def __init__(self, fn: Callable[..., Any], **options: Any) -> None:
        for key, value in options.items():
            setattr(self, key, value)
        self.fn = fn
        self.name = options.get("name") or f"{fn.__module__}.{fn.__qualname__}"
        check_name(f"task name of {fn.__module__}.{fn.__qualname__}", self.name, ConfigurationError)
        if self.queue is not None:
            check_name(f"queue of task {self.name}", self.queue, ConfigurationError)
        if self.priority is not None:
            _check_priority(self.priority)
        if isinstance(self.autoretry_for, type):
            self.autoretry_for = (self.autoretry_for,)
        self.autoretry_for = tuple(self.autoretry_for)
        for name in ("time_limit", "soft_time_limit", "unique_for"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise ConfigurationError(f"{self.name}: {name} must be a positive number of seconds, not {value!r}")
        if self.rate_limit is not None:
            from .ratelimit import interval_ms

            interval_ms(self.rate_limit, f"@task {self.name}")
        if self.rate_limit_key is not None and (not callable(self.rate_limit_key) or self.rate_limit is None):
            raise ConfigurationError(f"{self.name}: rate_limit_key must be a callable taking the task's arguments, "
                                     "and needs rate_limit (the rate each key gets)")
        self.origin = f"{fn.__module__}.{fn.__qualname__}"
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<@task {self.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.run(*args, **kwargs)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        if self.bind:
            return self.fn(self, *args, **kwargs)
        return self.fn(*args, **kwargs)

    @property
    def request(self) -> Request | None:
        """The request being executed in this thread, or None outside of a task run."""
        return _request.get()

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
        limit = self.max_retries if max_retries is None else max_retries
        if not retry_policy.may_retry(request.retries, limit):
            if exc is not None:
                raise exc
            raise MaxRetriesExceededError(f"{self.name}[{request.id}] was retried {request.retries} times; "
                                          f"max_retries={limit}")
        if eta is not None:
            countdown = _eta(eta, self.name) - dt.datetime.now(dt.timezone.utc).timestamp()
        when = self.retry_countdown(request.retries, countdown)
        error = Retry(exc=exc, when=when)
        if throw:
            raise error
        return error

    def retry_countdown(self, retries: int, explicit: float | None = None) -> float:
        return retry_policy.countdown(
            retries, explicit=explicit, retry_backoff=self.retry_backoff,
            retry_backoff_max=self.retry_backoff_max, retry_jitter=self.retry_jitter,
            default_delay=self.default_retry_delay)

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

    def AsyncResult(self, task_id: str) -> _AsyncResult:  # noqa: N802 - Celery's name
        return _AsyncResult(task_id, self.name)

    # -- sending -------------------------------------------------------------------------------

    def delay(self, *args: Any, **kwargs: Any) -> _AsyncResult:
        return self.apply_async(args, kwargs)

    async def adelay(self, *args: Any, **kwargs: Any) -> _AsyncResult:
        """delay() for async views: the enqueue (one Redis round trip) runs in a thread, so the
        event loop is not blocked; `await result.aget()` waits for the result the same way."""
        return await self.aapply_async(args, kwargs)

    async def aapply_async(self, args: Iterable[Any] | None = None, kwargs: dict[str, Any] | None = None,
                           **options: Any) -> _AsyncResult:
        import asyncio

        # Async code runs outside any Django transaction (atomic blocks are sync code), so there
        # is no commit to wait for: sent now, whatever on_commit / ENQUEUE_ON_COMMIT say.
        options["on_commit"] = False
        return await asyncio.to_thread(functools.partial(self.apply_async, args, kwargs, **options))

    def s(self, *args: Any, **kwargs: Any) -> Any:
        """A signature: this call, described, to send later or put in a chain, group or chord."""
        from .canvas import Signature

        return Signature(self, args, kwargs)

    def si(self, *args: Any, **kwargs: Any) -> Any:
        """An immutable signature: in a chain it does not receive the previous step's result."""
        from .canvas import Signature

        return Signature(self, args, kwargs, immutable=True)

    def signature(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None, **options: Any) -> Any:
        from .canvas import Signature

        return Signature(self, args, kwargs, options)

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> _AsyncResult:
        """delay(), once the current database transaction commits; never if it rolls back. Outside
        a transaction, at once. So a task never looks for a row its caller has not committed yet."""
        return self.apply_async(args, kwargs, on_commit=True)

    def apply_async(  # noqa: PLR0913 - Celery's signature
        self,
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        *,
        countdown: float | None = None,
        eta: dt.datetime | None = None,
        expires: float | dt.timedelta | dt.datetime | None = None,
        queue: str | None = None,
        priority: int | None = None,
        task_id: str | None = None,
        ignore_result: bool | None = None,
        serializer: str | None = None,
        time_limit: float | None = None,
        soft_time_limit: float | None = None,
        on_commit: bool | None = None,
        unique_key: str | None = None,
        unique_for: float | None = None,
    ) -> _AsyncResult:
        """Send one call. The arguments are encoded (and refused if they cannot be) at once, even
        with on_commit=True, so a bad argument fails here and not at commit time."""
        app = app_module.current()
        message = self.message(args, kwargs, countdown=countdown, eta=eta, expires=expires,
                               queue=queue, priority=priority, task_id=task_id,
                               ignore_result=ignore_result, serializer=serializer,
                               time_limit=time_limit, soft_time_limit=soft_time_limit,
                               unique_key=unique_key, unique_for=unique_for)
        if on_commit is None:
            on_commit = app.config.enqueue_on_commit
        lock = message.options.get("unique")
        if lock and not app.config.eager:
            lock_ms = message.options["unique_ms"]
            if on_commit:
                message.encode()
                app_module.after_commit(functools.partial(_enqueue_unique_at_commit, app, message, lock, lock_ms))
                return _AsyncResult(message.id, self.name)
            return _AsyncResult(app.broker.enqueue_unique(message, lock, lock_ms), self.name)
        if app.config.eager:
            from .worker.execute import run_eagerly

            if on_commit:
                pending = PendingEagerResult(message.id, self.name)

                def run() -> None:
                    pending._meta = run_eagerly(app, self, message)._meta

                app_module.after_commit(run)
                return pending
            return run_eagerly(app, self, message)
        if on_commit:
            message.encode()  # fail now on what cannot be encoded, not inside the commit
            app_module.after_commit(functools.partial(app.broker.enqueue, [message]))
        else:
            app.broker.enqueue([message])
        return _AsyncResult(message.id, self.name)

    def message(self, args: Iterable[Any] | None = None, kwargs: dict[str, Any] | None = None,
                **options: Any) -> Message:
        """The Message that apply_async would send, with every option checked."""
        app = app_module.current()
        config = app.config
        args = tuple(args or ())
        kwargs = dict(kwargs or {})
        countdown, eta = options.get("countdown"), options.get("eta")
        if countdown is not None and eta is not None:
            raise ValueError(f"{self.name}: give countdown or eta, not both")
        eta_ts = _eta(eta, self.name) if eta is not None else None
        delay = _countdown(countdown, self.name)
        expires = options.get("expires")
        expires_at, expires_in = _expiry(self.expires if expires is None else expires, self.name)
        queue, priority = options.get("queue"), options.get("priority")
        if queue:
            check_name(f"queue for {self.name}", queue, ValueError)
        if priority is not None:
            _check_priority(priority)
        if not queue or priority is None:
            # The call's own options win, then JOBS["ROUTES"], then @task(...), then the defaults
            # (all but the call's were checked when they were set).
            route = app.router.route(self.name, args, kwargs, options) if app.router else NO_ROUTE
            queue = queue or route.queue or self.queue or config.default_queue
            if priority is None:
                priority = next(p for p in (route.priority, self.priority, 0) if p is not None)
        task_id = options.get("task_id")
        if task_id:
            check_name(f"task_id for {self.name}", task_id, ValueError)
        else:
            task_id = str(uuid.uuid4())
        serializer = options.get("serializer") or self.serializer or config.task_serializer
        if serializer not in config.accept_content:
            raise ConfigurationError(
                f"{self.name}: serializer {serializer!r} is not in JOBS['ACCEPT_CONTENT'] "
                f"{list(config.accept_content)}; workers would refuse the message"
            )
        extra: dict[str, Any] = {}
        ignore_result = options.get("ignore_result")
        if ignore_result is not None and ignore_result != self._ignore_result(config):
            extra["ignore_result"] = bool(ignore_result)
        extra.update(time_limits(self.name, options))
        lock = self._unique_lock(app, args, kwargs, options.get("unique_key"), options.get("unique_for"))
        if lock:
            extra["unique"] = lock
            extra["unique_ms"] = int(1000 * (options.get("unique_for") or self.unique_for or 0))
        return Message(
            id=task_id, task=self.name, args=args, kwargs=kwargs, queue=queue,
            priority=priority, eta=eta_ts, countdown=delay, expires=expires_at, expires_in=expires_in,
            content_type=serializer, options=extra,
        )

    def _unique_lock(self, app: Any, args: tuple[Any, ...], kwargs: dict[str, Any], key: Any,
                     unique_for: Any) -> str | None:
        """The Redis key of this call's uniqueness lock, or None for a task that is not unique."""
        if unique_for is not None and (isinstance(unique_for, bool) or not isinstance(unique_for, (int, float))
                                       or unique_for <= 0):
            raise ValueError(f"{self.name}: unique_for must be a positive number of seconds, not {unique_for!r}")
        if not (unique_for or self.unique_for):
            if key is not None:
                raise ValueError(f"{self.name}: unique_key needs unique_for (how long the lock may live, in "
                                 "seconds) on @task(...) or on the call")
            return None
        if key is None:  # the same arguments are the same run
            from .serializers import json_dumps

            try:
                text = json_dumps([list(args), sorted(kwargs.items())])
            except (TypeError, ValueError):
                text = repr((args, sorted(kwargs.items())))
            key = hashlib.sha1(text.encode()).hexdigest()
        elif not isinstance(key, str) or not key:
            raise ValueError(f"{self.name}: unique_key must be a non-empty string, not {key!r}")
        return f"{app.keys.base}unique:{self.name}:{key}"

    # -- resolved options (task attribute, else setting) ---------------------------------------

    def _ignore_result(self, config: Any) -> bool:
        return config.ignore_result if self.ignore_result is None else self.ignore_result

    def _acks_late(self, config: Any) -> bool:
        return config.acks_late if self.acks_late is None else self.acks_late

    def _track_started(self, config: Any) -> bool:
        return config.track_started if self.track_started is None else self.track_started

    def limits(self, config: Any, options: dict[str, Any]) -> tuple[float | None, float | None]:
        """(soft, hard) time limits in seconds for one call: the call's, else the task's, else the
        settings'."""
        soft = options.get("soft_time_limit") or self.soft_time_limit or config.soft_time_limit
        hard = options.get("time_limit") or self.time_limit or config.time_limit
        return soft, hard


def time_limits(name: str, options: dict[str, Any]) -> dict[str, float]:
    """A call's own time_limit / soft_time_limit, checked, for its message's options."""
    out = {}
    for key in ("time_limit", "soft_time_limit"):
        value = options.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name}: {key} must be a positive number of seconds, not {value!r}")
            out[key] = float(value)
    return out


def _enqueue_unique_at_commit(app: Any, message: Message, lock: str, lock_ms: int) -> None:
    app.broker.enqueue_unique(message, lock, lock_ms)


def _check_priority(priority: Any) -> None:
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= MAX_PRIORITY:
        raise ValueError(f"priority must be an int from 0 to {MAX_PRIORITY} (9 runs first), not {priority!r}")


def _eta(eta: Any, name: str) -> float:
    if not isinstance(eta, dt.datetime):
        raise TypeError(f"{name}: eta must be a datetime, not {type(eta).__name__}; for seconds use countdown=")
    if eta.tzinfo is None or eta.utcoffset() is None:
        raise ValueError(
            f"{name}: eta={eta!r} has no time zone; pass an aware datetime, e.g. "
            "django.utils.timezone.now() + timedelta(minutes=5)"
        )
    return eta.timestamp()


def _countdown(countdown: Any, name: str) -> float | None:
    """A countdown in seconds; counted from when the message reaches Redis, on Redis's clock."""
    if countdown is None:
        return None
    if isinstance(countdown, bool) or not isinstance(countdown, (int, float)):
        raise TypeError(f"{name}: countdown must be a number of seconds, not {countdown!r}")
    return float(countdown)


def _expiry(expires: Any, name: str) -> tuple[float | None, float | None]:
    """(expires, expires_in) of a message for `expires`: seconds or a timedelta count from when the
    message reaches Redis (on Redis's clock); an aware datetime is an absolute time."""
    if expires is None:
        return None, None
    if isinstance(expires, dt.datetime):
        return _eta(expires, name), None
    if isinstance(expires, dt.timedelta):
        return None, expires.total_seconds()
    if isinstance(expires, (int, float)) and not isinstance(expires, bool):
        return None, float(expires)
    raise TypeError(f"{name}: expires must be seconds, a timedelta or an aware datetime, not {expires!r}")


def task(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Declare a background task: ``@task`` or ``@task(queue="emails", name="shop.send")``."""
    unknown = set(options) - TASK_OPTIONS
    if unknown:
        raise TypeError(
            f"@task got unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(TASK_OPTIONS))}"
        )
    base = options.pop("base", None) or Task
    if not (isinstance(base, type) and issubclass(base, Task)):
        raise TypeError(f"@task(base=...) must be a subclass of jobs.Task, not {base!r}")

    def decorate(func: Callable[..., Any]) -> Task:
        instance = base(func, **options)
        registry.register(instance)
        return instance

    return decorate(fn) if fn is not None else decorate


def current_request() -> Request | None:
    return _request.get()


def set_request(request: Request | None) -> contextvars.Token[Request | None]:
    return _request.set(request)


def clear_request(token: contextvars.Token[Request | None]) -> None:
    _request.reset(token)
