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

from .. import tracing
from ..errors import ChordError, ConfigurationError
from ..execution.execute import execute
from ..execution.followup import errback_here
from ..execution.settle import run_about, settle
from ..setup.app import App
from ..setup.build import message as build_message
from ..setup.definition import TaskDefinition
from ..wire.message import Message, decode
from ..wire.options import CallOptions
from ..wire.outcome import FAILURE, RETRY, SUCCESS, ResultMeta
from ..wire.outcome import decode as decode_result
from ..wire.outcome import encode as encode_result
from ..wire.request import Request
from ..wire.workflow import ChainNode, GroupNode, Node, Step
from .asyncresult import AsyncResult
from .groupresult import GroupResult, tree
from .types import R_co

logger = logging.getLogger("jobs")


class EagerResult(AsyncResult[R_co]):
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
    message = decode(message.encode(config.signing_key), message.queue, config.accept_content, config.signing_keys)
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
    meta = decode_result(encode_result(outcome, task.name, content_type, "eager", about, message.encrypted,
                                       config.signing_key), config.accept_content, config.signing_keys)
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


def workflow(app: App, node: Node, args: tuple[Any, ...], kwargs: dict[str, Any] | None,
             call: CallOptions) -> AsyncResult | GroupResult:
    """A workflow (canonical, identified) run here, as workers would run it: its results shaped as
    it is (groupresult.tree), with the same failure policies: after a failed step, the rest of its
    chain fails with it; after a failed member, a chord's callback is a ChordError and does not run."""
    return _run(app, node, args, kwargs, call, None)


def _run(app: App, node: Node, args: tuple[Any, ...], kwargs: dict[str, Any] | None, call: CallOptions | None,
         parent: AsyncResult | GroupResult | None) -> AsyncResult | GroupResult:
    """`node` run with `args` in front of its first steps' own; `call`: the caller's options for them."""
    if isinstance(node, Step):
        one = node.with_args(args, kwargs)
        if call is not None:
            one = dataclasses.replace(one, options=one.options.merge(call))
        ran = step(app, one)
        ran.parent = parent
        return ran
    if isinstance(node, ChainNode):
        result = _run(app, node.steps[0], args, kwargs, call, parent)
        for i, following in enumerate(node.steps[1:], 1):
            meta = result._read() if isinstance(result, AsyncResult) else None
            if meta is None or meta.status != SUCCESS:  # only steps come before the last (canonical)
                assert meta is not None
                rest = node.steps[i] if i == len(node.steps) - 1 else ChainNode(node.steps[i:])
                return _failed(rest, dataclasses.replace(meta, traceback=f"{meta.traceback or ''}\n(not run: a "
                                                                       "step before it failed)"), result)
            result = _run(app, following, (meta.value,), None, None, result)
        return result
    if isinstance(node, GroupNode):
        group = GroupResult([_run(app, m, args, kwargs, call, None) for m in node.members], node.id)
        group.parent = parent
        return group
    header = GroupResult([_run(app, m, args, kwargs, call, None) for m in node.header], node.id)
    header.parent = parent
    failed = next((r for r in header.leaves() if not r.successful()), None)
    if failed is None:
        return _run(app, node.body, (header.get(),), None, None, header)
    error = ChordError(f"member {failed.task_name}[{failed.id}] of the chord failed: {failed.result!r}; "
                       "the callback did not run")
    if app.config.eager_propagates:
        raise error
    return _failed(node.body, ResultMeta(FAILURE, exception=error), header)


def _failed(node: Node, meta: ResultMeta, parent: AsyncResult | GroupResult) -> AsyncResult | GroupResult:
    """The results of steps that will not run, each the failure `meta` says."""
    return tree(node, lambda one: EagerResult(one.id or "", one.task, dataclasses.replace(meta, task=one.task)),
                parent)
