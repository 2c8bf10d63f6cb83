"""Running one task, and deciding how its run is settled.

    execute()  calls the function, with its request, time limits and prerun/postrun events, and
               says what happened: SUCCESS, FAILURE, RETRY (task.retry() or autoretry_for) or
               REVOKED (terminated);
    settle()   notify() (the task's hooks and the events for that outcome, its log line), then
               record(): the Ack that stores the result and, for a retry, schedules the next run in
               the same step. The supervisor, which must never wait on user code, records first
               and notifies apart (worker/apart.py, delivery.DeliveryHandler.end_held).

The worker (handle.py), the supervisor (a task it had to kill) and EAGER mode share these two
functions, so what a test sees inline is what a worker does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any

from ..errors import HardTimeLimit, Retry, SoftTimeLimitExceeded, Terminated, TimeLimitExceeded
from ..redis.connection import RETRYABLE
from ..redis.deliveries import Ack
from ..redis.tally import TALLY
from ..setup.app import App
from ..setup.definition import TaskDefinition
from ..setup.retry import may_retry
from ..wire.message import Message
from ..wire.outcome import FAILURE, RETRY, REVOKED, SUCCESS, Outcome, about, format_traceback
from ..wire.outcome import encode as encode_result
from ..wire.request import ExceptionInfo, Request, StateReporter, clear_request, set_request
from .followup import attempt_failed, chord_arguments, errback_here, follow_up
from .limits import alarms, interrupts

logger = logging.getLogger("jobs.worker")

#: A result document larger than this (bytes) goes to the history with its value described instead.
HISTORY_VALUE_MAX = 65536


def execute(app: App, task: TaskDefinition, message: Message, request: Request,
            soft: float | None = None, hard: float | None = None,
            on_start: Callable[[], Callable[[], None] | None] | None = None, interruptible: bool = False,
            reporter: StateReporter | None = None) -> Outcome:
    """Run the task's function and capture what happened, never raising. `soft`/`hard` are time
    limits enforced here (by SIGALRM, in a main thread only); None leaves them to the supervisor.
    on_start marks the run started (the board; and, interruptible: this thread armed for the
    supervisor's exceptions, limits.py), inside the block whose exceptions become the outcome; what
    it returns is called as the function ends (the board: its hard limit no longer applies).
    reporter: where the task's update_state() goes (worker/progress.py)."""
    hooks = app.hooks
    context = set_request(request, reporter)
    started_at = time.time()
    started = time.perf_counter()
    try:
        ended = None
        outcome: Outcome | None = None  # None: it returned `value` (the common case, made once below)
        value = None
        try:
            try:
                if on_start is not None:
                    ended = on_start()
                hooks.emit("task_prerun", task=task, request=request)
                args, refused = _arguments(app, message)
                if refused is not None:
                    outcome = refused
                elif soft or hard:
                    with alarms(soft, hard):
                        value = task.run(*args, **message.kwargs)
                        if inspect.iscoroutine(value):
                            value = run_coroutine(app, value)
                else:  # no limit to arm here (prefork: the supervisor's): no context manager a run
                    value = task.run(*args, **message.kwargs)
                    if inspect.iscoroutine(value):
                        value = run_coroutine(app, value)
            finally:
                if interruptible:
                    interrupts.disarm()  # nothing raised from outside can land after this
                if ended is not None:
                    ended()
        except BaseException as exc:
            outcome = _caught(task, message, exc)
        runtime = time.perf_counter() - started
        if outcome is None:  # one frozen Outcome a run, not a second copy for its run time
            return Outcome(SUCCESS, value, None, None, None, runtime, None, started_at)
        return _with_runtime(outcome, runtime, started_at)
    finally:
        clear_request(context)


async def execute_async(app: App, task: TaskDefinition, message: Message, request: Request,
                        soft: float | None = None, hard: float | None = None,
                        reporter: StateReporter | None = None) -> Outcome:
    """execute() for an async task run beside others on a consumer's event loop (runner.py). The
    limits are timers on the loop: the soft one cancels the task (its cleanup runs) and it fails
    with SoftTimeLimitExceeded unless it handles that; the hard one cancels it again and it fails
    with TimeLimitExceeded. A task that blocks the loop defeats both: runner.py's watchdog ends the
    process, and the supervisor deals with what it held."""
    started_at = time.time()
    started = time.perf_counter()
    set_request(request, reporter)  # this coroutine runs in a context of its own (asyncio copies it)
    loop = asyncio.get_running_loop()
    # Hooks and signal receivers are sync code (they may use the ORM): in a thread, off the loop.
    await loop.run_in_executor(None, functools.partial(app.hooks.emit, "task_prerun", task=task, request=request))
    try:
        args, refused = _arguments(app, message)
        if refused is not None:
            outcome = refused
        else:
            coro = task.run(*args, **message.kwargs)
            if app.wrap_coroutine is not None:
                coro = app.wrap_coroutine(coro)
            outcome = Outcome(SUCCESS, await _within(coro, soft, hard, f"jobs:{request.id}"))
    except BaseException as exc:
        outcome = _caught(task, message, exc)
    return _with_runtime(outcome, time.perf_counter() - started, started_at)


async def _within(coro: Any, soft: float | None, hard: float | None, name: str) -> Any:
    loop = asyncio.get_running_loop()
    job = loop.create_task(coro, name=name)  # the runner's watchdog finds a blocking task by its name
    why: list[str] = []

    def stop(kind: str) -> None:
        if not job.done():
            why.append(kind)
            job.cancel()

    timers = [loop.call_later(limit, stop, kind) for kind, limit in (("soft", soft), ("hard", hard)) if limit]
    try:
        return await job
    except asyncio.CancelledError:
        if "hard" in why:
            raise HardTimeLimit(f"hard time limit ({hard:g}s) exceeded") from None
        if why:
            raise SoftTimeLimitExceeded(f"soft time limit ({soft:g}s) exceeded") from None
        raise
    finally:
        for timer in timers:
            timer.cancel()


def _arguments(app: App, message: Message) -> tuple[tuple[Any, ...], Outcome | None]:
    """The call's arguments; a chord's callback gets the members' results in front (or the outcome
    it ends with if one failed)."""
    if message.options.chord_of is None:
        return message.args, None
    try:
        return chord_arguments(app, message)
    except RETRYABLE as exc:  # Redis blinked: read them again in a moment, do not fail
        return message.args, _retry_outcome(exc, 1.0)


def _caught(task: TaskDefinition, message: Message, exc: BaseException) -> Outcome:
    """What an exception out of a task means."""
    if isinstance(exc, Retry):
        return _retry_outcome(exc.exc or exc, exc.when or 0.0)
    if isinstance(exc, HardTimeLimit):
        return Outcome(FAILURE, exception=TimeLimitExceeded(str(exc)), traceback=format_traceback(exc))
    if isinstance(exc, Terminated):
        return Outcome(REVOKED, reason="revoked and terminated while running")
    if isinstance(exc, (Exception, SystemExit)):  # sys.exit() in a task fails the task, not the worker
        return _failure_or_autoretry(task, message, exc)
    raise exc  # KeyboardInterrupt and the like are not the task's


def run_coroutine(app: App, coro: Any) -> Any:
    """An `async def` task: run it to the end on an event loop of its own, in this consumer.

    A time limit raised while the loop waits (SIGALRM, or the threads pool's injected exception)
    leaves asyncio.run, which cancels the task first, so its `finally` blocks and `async with`
    exits run before the limit is reported. Inside the task, Django's async ORM works as in an
    async view."""
    if app.wrap_coroutine is not None:
        coro = app.wrap_coroutine(coro)
    return asyncio.run(coro)


def _retry_outcome(exc: BaseException, when: float) -> Outcome:
    return Outcome(RETRY, exception=exc, traceback=format_traceback(exc), retry_in=max(0.0, when))


def _failure_or_autoretry(task: TaskDefinition, message: Message, exc: BaseException) -> Outcome:
    if task.autoretry_for and isinstance(exc, task.autoretry_for):
        limit = task.retry_kwargs.get("max_retries", task.max_retries)
        if may_retry(message.retries, limit):
            return _retry_outcome(exc, task.retry_countdown(message.retries, task.retry_kwargs.get("countdown")))
    return Outcome(FAILURE, exception=exc, traceback=format_traceback(exc))


def _with_runtime(outcome: Outcome, runtime: float, started_at: float) -> Outcome:
    return Outcome(outcome.status, outcome.value, outcome.exception, outcome.traceback, outcome.reason,
                   runtime, outcome.retry_in, started_at)


def settle(app: App, task: TaskDefinition, message: Message, request: Request, outcome: Outcome, token: str,
           hostname: str, store: bool = True) -> Ack | None:
    """Hooks and events for the outcome, then the Ack that records it (None: nothing to record)."""
    notify(app, task, message, request, outcome)
    return record(app, task, message, outcome, token, hostname, store)


def notify(app: App, task: TaskDefinition, message: Message, request: Request, outcome: Outcome) -> None:
    """The task's hooks, the signals for the outcome, and its log line: user code, never raising."""
    hooks = app.hooks
    args, kwargs, task_id = message.args, message.kwargs, message.id
    einfo = None
    if outcome.exception is not None:
        einfo = ExceptionInfo(outcome.exception, outcome.traceback or "")
    if outcome.status == SUCCESS:
        _hook(task.on_success, outcome.value, task_id, args, kwargs)
        hooks.emit("task_success", task=task, request=request, result=outcome.value)
    elif outcome.status == RETRY:
        assert einfo is not None and outcome.retry_in is not None
        _hook(task.on_retry, outcome.exception, task_id, args, kwargs, einfo)
        hooks.emit("task_retry", task=task, request=request, exception=outcome.exception,
                   traceback=outcome.traceback, eta=time.time() + outcome.retry_in)
    elif outcome.status == FAILURE:
        assert einfo is not None
        _hook(task.on_failure, outcome.exception, task_id, args, kwargs, einfo)
        for step in message.options.link_error:  # Celery's errbacks that want the request: called here
            errback = errback_here(app, step)
            if errback is not None:
                _hook(errback.run, request, outcome.exception, outcome.traceback or "", *step.args, **step.kwargs)
        hooks.emit("task_failure", task=task, request=request, exception=outcome.exception,
                   traceback=outcome.traceback)
    elif outcome.status == REVOKED:
        hooks.emit("task_revoked", task_id=task_id, task_name=task.name, reason=outcome.reason,
                   terminated=True)
    _hook(task.after_return, outcome.status, outcome.value if outcome.status == SUCCESS else outcome.exception,
          task_id, args, kwargs, einfo)
    hooks.emit("task_postrun", task=task, request=request, status=outcome.status, result=outcome.value)
    _log(app, task, message, outcome)


def record(app: App, task: TaskDefinition, message: Message, outcome: Outcome, token: str, hostname: str,
           store: bool = True) -> Ack | None:
    """The Ack that records an outcome: its result, its next run for a retry, what a workflow does
    next. No user code runs here (a ROUTES callable for a workflow's next step aside)."""
    retry_delay_ms, retry_member = 0, ""
    if outcome.status == RETRY:
        assert outcome.retry_in is not None
        # Due retry_in from now by Redis's clock (lib/ack.lua), not by this worker's.
        next_run = message.replace(retries=message.retries + 1, eta=None, countdown=outcome.retry_in, deliveries=0,
                                   enqueued_at=0.0)
        retry_delay_ms = int(outcome.retry_in * 1000)
        retry_member = next_run.entry()
    payload = extra = history = ""
    if store:
        config = app.config
        settings = task.settings(message.options, config)
        extended = run_about(app, task, message) if config.result_extended or settings.history else None
        content_type = task.serializer or config.result_serializer
        if not settings.ignore_result:
            payload = encode_result(outcome, message.task, content_type, hostname,
                                    extended if config.result_extended else None)
        if settings.history:
            history = history_entry(outcome, payload, config.result_extended, message.task, hostname, extended,
                                    content_type)
        extra = follow_up(app, message, outcome, hostname)
        if task.keeps_attempts and outcome.exception is not None:
            extra = attempt_failed(app, message, outcome, extra)
    if not token and not payload and not retry_member and not extra:
        return None
    if token:  # a delivery settled (not EAGER mode): counted for the metrics, sent with a later call
        started = outcome.started_at
        wait = started - message.enqueued_at if started is not None and message.enqueued_at else None
        TALLY.add(message.task, message.queue, outcome.status, None if started is None else outcome.runtime, wait)
    return Ack(token, message.id, payload, retry_delay_ms, retry_member, extra, message.task, history)


def run_about(app: App, task: TaskDefinition | None, message: Message) -> dict[str, Any]:
    """What an extended result and the history say of a run: its arguments as they may be stored
    (redact.py), its queue, retries, enqueue time and parent."""
    fn = task.fn if task is not None else None
    stored = app.redactor.stored(fn, message.args, message.kwargs, bool(task and task.bind))
    return about(message.id, stored, message.queue, message.retries, message.enqueued_at, message.options.parent)


def history_entry(outcome: Outcome, payload: str, extended: bool, task: str, hostname: str,
                  about: dict[str, Any] | None, content_type: str = "json") -> str:
    """The Ack's history field (lib/ack.lua): usually "=", the result document itself; a document of
    its own when there is none (ignore_result), it is not extended, or it is too large to keep."""
    kind = "s" if outcome.status == SUCCESS else "f"
    if payload and extended and len(payload) <= HISTORY_VALUE_MAX:
        return kind + "="
    if outcome.status == SUCCESS and outcome.value is not None:
        note = None
        if not payload:
            note = "not stored (ignore_result)"
        elif len(payload) > HISTORY_VALUE_MAX:
            note = f"a result of {len(payload):,} bytes, not kept here"
        elif content_type != "json":
            note = f"stored as {content_type}, not shown here"
        if note:
            outcome = dataclasses.replace(outcome, value=f"<{type(outcome.value).__name__}: {note}>")
    return kind + encode_result(outcome, task, "json", hostname, about)


def _hook(hook: Any, *args: Any) -> None:
    try:
        hook(*args)
    except Exception:
        logger.exception("%s raised; the task's outcome is kept as it was", getattr(hook, "__qualname__", hook))


def _log(app: App, task: TaskDefinition, message: Message, outcome: Outcome) -> None:
    status = outcome.status
    if not task.logs_outcome and status != RETRY:
        return
    if status == SUCCESS:
        # DEBUG, not INFO: a log line per task costs a fifth of a no-op task's throughput, and a
        # healthy worker's log should show what needs attention. `runworker -l debug` shows them.
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("Task %s[%s] succeeded in %.4fs: %.200r", message.task, message.id,
                         outcome.runtime, outcome.value)
        return
    # What it was called with, as it may be written down (JOBS["REDACT"], STORED_ARGS_MAX).
    called = app.redactor.text(task.fn, message.args, message.kwargs, task.bind)
    if status == RETRY:
        logger.warning("Task %s[%s] retry %d in %.1fs: %s: %s (%s)", message.task, message.id,
                       message.retries + 1, outcome.retry_in or 0, type(outcome.exception).__name__,
                       outcome.exception, called)
    elif status == REVOKED:
        logger.warning("Task %s[%s] %s (%s)", message.task, message.id, outcome.reason, called)
    elif task.throws and isinstance(outcome.exception, task.throws):  # expected (Celery's throws): no traceback
        logger.info("Task %s[%s] raised expected %s after %.4fs: %s (%s)", message.task, message.id,
                    type(outcome.exception).__name__, outcome.runtime, outcome.exception, called)
    else:
        logger.error("Task %s[%s] raised %s after %.4fs (%s)\n%s", message.task, message.id,
                     type(outcome.exception).__name__, outcome.runtime, called, outcome.traceback)
