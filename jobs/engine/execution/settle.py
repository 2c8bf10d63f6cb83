"""Settling a run: what its outcome sets off in this process, and the Ack that records it in Redis.

    settle()   notify() (the task's hooks and the events for that outcome, its log line), then
               record(): the Ack that stores the result and, for a retry, schedules the next run in
               the same step. The supervisor, which must never wait on user code, records first
               and notifies apart (worker/apart.py, worker/ended.py).

Apart from execute.py, which runs the function: a run ended from outside (a child killed at its
hard limit, a process that died) has no run to execute but is settled all the same, by these.
The worker, the supervisor and EAGER mode share them, so what a test sees inline is what a worker does.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from ..redis.deliveries import Ack
from ..redis.tally import TALLY
from ..setup.app import App
from ..setup.definition import TaskDefinition
from ..wire.message import Message
from ..wire.outcome import FAILURE, RETRY, REVOKED, SUCCESS, Outcome, about
from ..wire.outcome import encode as encode_result
from ..wire.request import ExceptionInfo, Request
from ..wire.sealing import SHOWN
from .followup import attempt_failed, errback_here, follow_up

logger = logging.getLogger("jobs.worker")

#: A result document larger than this (bytes) goes to the history with its value described instead.
HISTORY_VALUE_MAX = 65536


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
        retry_member = next_run.entry(app.config.signing_key)
    payload = extra = history = ""
    if store:
        config = app.config
        settings = task.settings(message.options, config)
        extended = run_about(app, task, message) if config.result_extended or settings.history else None
        content_type = task.serializer or config.result_serializer
        if not settings.ignore_result:
            payload = encode_result(outcome, message.task, content_type, hostname,
                                    extended if config.result_extended else None, message.encrypted,
                                    config.signing_key)
        if settings.history:
            shown = dataclasses.replace(outcome, value=SHOWN) if message.encrypted else outcome  # never in the clear
            history = history_entry(shown, payload, config.result_extended, message.task, hostname, extended,
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
    if message.encrypted:  # wire/sealing.py: never written down in the clear
        stored: tuple[Any, Any, bool] = (SHOWN, SHOWN, False)
    else:
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
                         outcome.runtime, SHOWN if message.encrypted else outcome.value)
        return
    # What it was called with, as it may be written down (JOBS["REDACT"], STORED_ARGS_MAX).
    called = SHOWN if message.encrypted else app.redactor.text(task.fn, message.args, message.kwargs, task.bind)
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
