"""EAGER mode: tasks run inline, in the caller, through the code a worker runs them with.

    JOBS = {"EAGER": True}      # tests: delay() runs the task at once and returns its result

Every sender reaches here through the producer (producer.py), never the other way round: eager mode
sits above both the client and the worker, and neither imports it. A run goes through the
serializers both ways, so a test catches what production would refuse; a retry runs again at once
(no waiting in tests), up to max_retries, as Celery's eager mode does; workflows run step by step,
with the same failure policies as on a worker.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from . import tracing
from .app import App
from .asyncresult import AsyncResult
from .build import message as build_message
from .definition import TaskDefinition
from .errors import ChordError, ConfigurationError
from .message import Message, decode
from .request import Request
from .results import FAILURE, RETRY, SUCCESS, ResultMeta
from .results import decode as decode_result
from .results import encode as encode_result
from .worker.execute import execute, run_about, settle
from .worker.followup import errback_here
from .workflow import Step

logger = logging.getLogger("jobs")


class EagerResult(AsyncResult):
    """The result of a task run inline (EAGER mode): already final, never read from Redis."""

    def __init__(self, id: str, task_name: str, meta: ResultMeta | None) -> None:
        super().__init__(id, task_name)
        self._meta = meta

    def _read(self) -> ResultMeta | None:
        return self._meta

    def _wait(self, timeout: float | None) -> ResultMeta:
        if self._meta is None:
            raise RuntimeError(f"{self.task_name}[{self.id}] runs when the transaction commits (on_commit); "
                               "it has not committed yet")
        return self._meta

    def forget(self) -> None:
        pass


def task_of(app: App, name: str) -> TaskDefinition:
    task = app.registry.find(name)
    if task is None:
        raise ConfigurationError(f"EAGER mode runs tasks this process knows; {name!r} is not registered here")
    return task


def run(app: App, message: Message) -> EagerResult:
    """Run a message's task now, here; its result, final."""
    task = task_of(app, message.task)
    config = app.config
    message = decode(message.encode(), message.queue, config.accept_content)
    while True:
        request = Request.of(message, "eager", eager=True)
        with tracing.consuming(message) as span:
            outcome = execute(app, task, message, request)
            tracing.ended(span, outcome)
            settle(app, task, message, request, outcome, "", "eager", store=False)
        if outcome.status != RETRY:
            break
        message = message.replace(retries=message.retries + 1)
    _callbacks(app, message, outcome.status, outcome.value)
    content_type = task.serializer or config.result_serializer
    about = run_about(app, task, message) if config.result_extended else None
    meta = decode_result(encode_result(outcome, task.name, content_type, "eager", about), config.accept_content)
    if meta.status == FAILURE:
        # Keep the real exception object (with its traceback) rather than the rebuilt copy.
        meta = dataclasses.replace(meta, exception=outcome.exception or meta.exception)
        if config.eager_propagates:
            assert meta.exception is not None
            raise meta.exception
    return EagerResult(message.id, task.name, meta)


def run_at_commit(app: App, message: Message) -> EagerResult:
    """PENDING until the caller's transaction commits (and for good if it rolls back), then run."""
    pending = EagerResult(message.id, message.task, None)

    def go() -> None:
        pending._meta = run(app, message)._meta

    app.after_commit(go)
    return pending


def _callbacks(app: App, message: Message, status: str, value: Any) -> None:
    """link after a success, link_error (those not called in notify) after a failure, run here too,
    as a worker would send them (worker/followup.py)."""
    if status == SUCCESS:
        for callback in message.options.link:
            step(app, callback.with_args((value,)))
    elif status == FAILURE:
        for errback in message.options.link_error:
            if errback_here(app, errback) is None:
                try:
                    step(app, errback.with_args((message.id,)))
                except Exception:  # its own failure: the task's outcome stands (eager_propagates or not)
                    logger.exception("link_error %s of %s[%s] failed", errback.task, message.task, message.id)


def step(app: App, one: Step) -> EagerResult:
    return run(app, build_message(app, task_of(app, one.task), one.args, one.kwargs, one.call_options()))


def chain(app: App, steps: list[Step]) -> EagerResult:
    """As on a worker: the last step's result; after a failure, the steps after it fail too."""
    result = step(app, steps[0])
    for following in steps[1:]:
        parent = result
        if parent.successful():
            result = step(app, following.with_args((parent.result,)))
        else:
            meta = parent._read()
            assert meta is not None
            result = EagerResult(following.id or "", following.task, ResultMeta(
                FAILURE, exception=meta.exception, traceback=f"{meta.traceback or ''}\n(not run: a step before it "
                "failed)", task=following.task))
        result.parent = parent
    return result


def chord(app: App, members: list[Step], body: Step) -> tuple[list[EagerResult], EagerResult]:
    """The members, then the callback with their results (or a ChordError if one failed)."""
    results = [step(app, member) for member in members]
    failed = next((r for r in results if not r.successful()), None)
    if failed is None:
        return results, step(app, body.with_args(([r.result for r in results],)))
    error = ChordError(f"member {failed.task_name}[{failed.id}] of the chord failed: {failed.result!r}; "
                       "the callback did not run")
    if app.config.eager_propagates:
        raise error
    return results, EagerResult(body.id or "", body.task, ResultMeta(FAILURE, exception=error, task=body.task))
