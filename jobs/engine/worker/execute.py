"""Running one delivered message: decode it, find its task, run it, and say how to settle it.

The worker and EAGER mode share this path, so what a test sees inline is what a worker does. Every
message ends in exactly one settlement: an Ack carrying its result, a deferral (a task this worker
does not know yet), or the dead letters (a message that can never run here). A message is never
dropped, and a bad message never stops the worker.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..asyncresult import EagerResult
from ..broker import Ack, Delivery
from ..errors import DecodeError, NotRegistered
from ..message import Message, decode
from ..results import FAILURE, REVOKED, STARTED, SUCCESS, Outcome, ResultMeta, format_traceback
from ..results import decode as decode_result
from ..results import encode as encode_result
from ..serializers import json_dumps
from ..task import Request, Task, clear_request, set_request

logger = logging.getLogger("jobs.worker")

#: How long a message for a task this worker does not know waits before it is offered again.
UNKNOWN_TASK_DELAY = 10.0
DEAD_LETTERS_MAX = 10_000


def execute(app: Any, task: Task, message: Message, hostname: str, eager: bool = False) -> Outcome:
    """Run the task's function for this message and capture what happened, never raising."""
    request = Request(
        id=message.id, task=message.task, args=message.args, kwargs=message.kwargs,
        queue=message.queue, eta=message.eta, expires=message.expires, retries=message.retries,
        delivery_count=message.deliveries + 1, hostname=hostname, is_eager=eager,
    )
    hooks = app.hooks
    context = set_request(request)
    started = time.perf_counter()
    try:
        if hooks.before_task:
            _call_hooks(hooks.before_task, task, request)
        try:
            value = task.run(*message.args, **message.kwargs)
            outcome = Outcome(SUCCESS, value, runtime=time.perf_counter() - started)
        except (Exception, SystemExit) as exc:  # sys.exit() in a task fails the task, not the worker
            outcome = Outcome(FAILURE, exception=exc, traceback=format_traceback(exc),
                              runtime=time.perf_counter() - started)
        if hooks.after_task:
            _call_hooks(hooks.after_task, task, request, outcome)
    finally:
        clear_request(context)
    return outcome


def _call_hooks(hooks: list[Any], *args: Any) -> None:
    for hook in hooks:
        try:
            hook(*args)
        except Exception:
            logger.exception("hook %r failed; the task goes on", hook)


class Executor:
    """Turns a Delivery into an Ack (or a deferral or a dead letter) for one consumer."""

    def __init__(self, app: Any, hostname: str) -> None:
        self.app = app
        self.config = app.config
        self.broker = app.broker
        self.hostname = hostname
        self.accept = app.config.accept_content

    def handle(self, delivery: Delivery) -> Ack | None:
        try:
            message = decode(delivery.wire, delivery.queue, self.accept)
        except DecodeError as exc:
            self.bury(delivery, str(exc))
            return None
        try:
            task = self.app.registry.get(message.task)
        except NotRegistered:
            self._defer_unknown(delivery, message)
            return None
        token = delivery.token
        if message.expires is not None and time.time() > message.expires:
            logger.warning("Task %s[%s] expired before it started; not run", message.task, message.id)
            outcome = Outcome(REVOKED, reason="expired before it started")
            return Ack(token, message.id, encode_result(outcome, message.task, "json", self.hostname))
        config = self.config
        if not task._acks_late(config):
            self.broker.ack([Ack(token, message.id, "")])  # at most once: settled before it runs
            token = ""
        ignore = message.options.get("ignore_result", task._ignore_result(config))
        if not ignore and task._track_started(config):
            payload = json_dumps({"status": STARTED, "task": message.task, "worker": self.hostname,
                                  "date_started": time.time()})
            if not self.broker.started(token, message.id, payload):
                logger.warning("Task %s[%s]: delivery %s no longer holds it (its lease ran out); not run "
                               "here", message.task, message.id, token)
                return None
        outcome = execute(self.app, task, message, self.hostname)
        self._log(message, outcome)
        if ignore:
            return Ack(token, message.id, "") if token else None
        content_type = task.serializer or config.result_serializer
        return Ack(token, message.id, encode_result(outcome, message.task, content_type, self.hostname))

    def _log(self, message: Message, outcome: Outcome) -> None:
        if outcome.status == SUCCESS:
            if logger.isEnabledFor(logging.INFO):
                logger.info("Task %s[%s] succeeded in %.4fs: %.200r", message.task, message.id,
                            outcome.runtime, outcome.value)
        else:
            logger.error("Task %s[%s] raised %s after %.4fs\n%s", message.task, message.id,
                         type(outcome.exception).__name__, outcome.runtime, outcome.traceback)

    def _defer_unknown(self, delivery: Delivery, message: Message) -> None:
        self.broker.defer(delivery.token, time.time() + UNKNOWN_TASK_DELAY, message)
        logger.error(
            "Task %s[%s] is not registered in this worker; offered again in %ds. Is its module "
            "deployed here and in an installed app's tasks.py? Known: %s", message.task, message.id,
            UNKNOWN_TASK_DELAY, ", ".join(self.app.registry) or "none")

    def bury(self, delivery: Delivery, reason: str) -> None:
        """Move a delivery that cannot run to the dead letters, with the reason and the message."""
        wire = delivery.wire.decode("utf-8", "replace") if isinstance(delivery.wire, bytes) else delivery.wire
        record = json_dumps({"reason": reason, "queue": delivery.queue, "time": time.time(),
                             "worker": self.hostname, "message": wire})
        moved, trimmed = self.broker.bury(delivery.token, record, DEAD_LETTERS_MAX)
        if moved:
            logger.error("Message on queue %s cannot be run and was moved to the dead letters: %s",
                         delivery.queue, reason)
        if trimmed:
            logger.warning("Dead letters are full (%d); the %d oldest were dropped", DEAD_LETTERS_MAX, trimmed)


def run_eagerly(app: Any, task: Task, message: Message) -> EagerResult:
    """EAGER mode: the round trip through the serializers, then the task, inline."""
    config = app.config
    message = decode(message.encode(), message.queue, config.accept_content)
    outcome = execute(app, task, message, "eager", eager=True)
    content_type = task.serializer or config.result_serializer
    meta: ResultMeta = decode_result(encode_result(outcome, task.name, content_type, "eager"),
                                     config.accept_content)
    if meta.status == FAILURE:
        # Keep the real exception object (with its traceback) rather than the rebuilt copy.
        meta = ResultMeta(FAILURE, exception=outcome.exception or meta.exception,
                          traceback=meta.traceback, task=task.name, date_done=meta.date_done,
                          worker="eager")
        if config.eager_propagates:
            assert meta.exception is not None
            raise meta.exception
    return EagerResult(message.id, task.name, meta)
