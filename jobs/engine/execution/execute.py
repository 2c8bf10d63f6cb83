"""Running one task: its function called, and what happened, as an Outcome.

    execute()  calls the function, with its request, time limits and prerun/postrun events, and
               says what happened: SUCCESS, FAILURE, RETRY (task.retry() or autoretry_for) or
               REVOKED (terminated);
    execute_async()  the same for an async task beside others on a consumer's event loop.

How a run is then settled (its hooks, its Ack) is settle.py's. The worker (worker/delivery.py) and
EAGER mode share these, so what a test sees inline is what a worker does.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any

from ..errors import HardTimeLimit, Retry, SoftTimeLimitExceeded, Terminated, TimeLimitExceeded
from ..redis.connection import RETRYABLE
from ..setup.app import App
from ..setup.definition import TaskDefinition
from ..setup.retry import may_retry
from ..wire.message import Message
from ..wire.outcome import FAILURE, RETRY, REVOKED, SUCCESS, Outcome, format_traceback
from ..wire.request import Request, StateReporter, clear_request, set_request
from .chord_args import chord_arguments
from .limits import alarms, interrupts

logger = logging.getLogger("jobs.worker")


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
