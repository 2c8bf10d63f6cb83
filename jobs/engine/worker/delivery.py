"""From a delivery to its settlement: the worker's side of every message it takes.

Every delivery ends in exactly one of: an Ack carrying its result (and, for a retry, the next run),
a deferral (a task this worker does not know yet), the dead letters (a message that can never run
here), or a hand-back. A message is never dropped, and a bad message never stops the worker.

Before the task runs: decode (else dead letters), look the task up (else defer, for up to
UNKNOWN_TASK_GRACE, then dead letters), check its expiry (else REVOKED), its rate and concurrency
limits (else back to the scheduled set, in Redis), acknowledge it early if
acks_late=False, record STARTED if asked. Then execute.execute() and settle.settle().
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import inspect
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import tracing
from ..errors import BrokerUnavailable, DecodeError, NotRegistered
from ..execution.execute import execute, execute_async
from ..execution.followup import follow_up
from ..execution.progress import Reporter
from ..execution.settle import history_entry, run_about, settle
from ..redis.backoff import with_retry
from ..redis.broker import Broker
from ..redis.deliveries import Ack, Delivery
from ..redis.tally import TALLY
from ..setup.app import App
from ..setup.concurrency import slot_name, wait_ms
from ..setup.definition import TaskDefinition
from ..wire.message import Message, decode
from ..wire.outcome import FAILURE, REVOKED, STARTED, Outcome, encode_state
from ..wire.outcome import encode as encode_result
from ..wire.request import Request
from ..wire.serializers import json_dumps, json_loads, raw_loads
from ..wire.signing import BadSignature
from .acks import report_refused

logger = logging.getLogger("jobs.worker")

#: How long an async task's ack is retried while Redis is away (its lease covers it meanwhile).
ASYNC_ACK_TIMEOUT = 30.0

#: Pauses between offers of a message for a task this worker does not know: 5 s doubling to 60 s.
UNKNOWN_FIRST_DELAY = 5.0
UNKNOWN_MAX_DELAY = 60.0

OnStart = Callable[[str, "float | None", "float | None"], "Callable[[], None] | None"]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A delivery ready to run: decoded, known, not expired, within its rate and concurrency limits,
    started."""

    task: TaskDefinition
    message: Message
    request: Request
    token: str
    soft: float | None
    hard: float | None
    reporter: Reporter

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.task.fn)


class DeliveryHandler:
    """Turns a Delivery into its settlement, for one consumer. Not the task's run itself:
    execute.py does that; nor a run ended from outside: ended.py."""

    def __init__(self, app: App, hostname: str, hard_limits_here: bool = False, broker: Broker | None = None,
                 interruptible: bool = False) -> None:
        self.app = app
        self.config = app.config
        #: A consumer's own (Broker.private()); else this thread's connection.
        self.broker = broker or app.broker
        self.hostname = hostname
        self.accept = app.config.accept_content
        #: solo: the hard limit is raised here (SIGALRM); prefork: the supervisor kills the child.
        self.hard_limits_here = hard_limits_here
        #: threads and solo: the supervisor raises exceptions into the task's thread (limits.py).
        self.interruptible = interruptible

    def handle(self, delivery: Delivery, on_start: OnStart | None = None) -> Ack | None:
        prepared = self.prepare(delivery)
        if not isinstance(prepared, Prepared):
            return prepared
        return self.run(prepared, on_start)

    def run(self, p: Prepared, on_start: OnStart | None = None) -> Ack | None:
        started = None if on_start is None else functools.partial(on_start, p.message.id, p.soft, p.hard)
        with tracing.consuming(p.message) as span:  # what the task and its chain send are its children
            outcome = execute(self.app, p.task, p.message, p.request, p.soft,
                              p.hard if self.hard_limits_here else None, started, self.interruptible, p.reporter)
            tracing.ended(span, outcome)
            p.reporter.close()
            return settle(self.app, p.task, p.message, p.request, outcome, p.token, self.hostname)

    async def run_async(self, p: Prepared) -> None:
        """An async task beside others on a consumer's event loop (runner.py). Its settlement
        (hooks, signals, maybe an error email) and its ack run in a thread, off the loop; the ack
        is sent at once, fenced like any ack, and retried while Redis is away."""
        with tracing.consuming(p.message) as span:
            outcome = await execute_async(self.app, p.task, p.message, p.request, p.soft, p.hard, p.reporter)
            tracing.ended(span, outcome)
            # The settlement runs in a thread: in this context (the span current), for the chain's next step.
            context = contextvars.copy_context()
        p.reporter.close()

        def finish() -> None:
            ack = settle(self.app, p.task, p.message, p.request, outcome, p.token, self.hostname)
            if ack is None:
                return
            try:
                # This runs in a helper thread: its own connection, not the consumer's.
                refused = with_retry(lambda: self.app.broker.deliveries.ack([ack]), ASYNC_ACK_TIMEOUT, "ack")
            except BrokerUnavailable:
                logger.error("Task %s[%s]: its ack could not be sent; it runs again when its lease runs out",
                             p.message.task, p.message.id)
                return
            report_refused(refused, [ack], retried=False)

        await asyncio.get_running_loop().run_in_executor(None, context.run, finish)

    def prepare(self, delivery: Delivery) -> Ack | None | Prepared:
        """Everything before the task runs: an Ack or None if it ends here, else what to run."""
        try:
            message = decode(delivery.wire, delivery.queue, self.accept, self.config.signing_keys)
        except DecodeError as exc:
            self.bury(delivery, str(exc))
            if isinstance(exc, BadSignature):  # not an accident: someone wrote to Redis without the key
                self.broker.runs.count_bad_signature()
            return None
        try:
            task = self.app.registry.get(message.task)
        except NotRegistered:
            self._unknown(delivery, message)
            return None
        request = Request.of(message, self.hostname)
        self.app.hooks.emit("task_received", request=request)
        token = delivery.token
        if delivery.deadline is not None and time.monotonic() > delivery.deadline:
            return self._expired(task, message, token)  # taken in time, but waited too long here
        held, ack = self._limits(task, message, request, token)
        if held:
            return ack
        config = self.config
        try:
            settings = task.settings(message.options, config)
        except (TypeError, ValueError) as exc:  # a time limit no door lets through: written by hand
            self.bury(delivery, f"{exc}; not run (every door refuses it: was the message written by hand, or by "
                                "an older version?)")
            return None
        if not settings.acks_late and not self.broker.runs.ack_early(token):
            logger.warning("Task %s[%s]: delivery %s lost its lease before it started (another worker has the "
                           "task); not run here (acks_late=False: at most once)", message.task, message.id, token)
            return None
        app = self.app
        reporter = Reporter(app, token, message.id, message.task, self.hostname,
                            functools.partial(self._about, task, message), time.time())
        if not settings.ignore_result and settings.track_started:
            started = self._started(task, message, request, token, reporter.started_at, settings.history)
            if started is None:
                logger.warning("Task %s[%s]: delivery %s no longer holds it (its lease ran out); not "
                               "run here", message.task, message.id, token)
                return None
            request = started
        if task.resumable:  # where its last run left off (lua/checkpoint.lua): one round trip
            raw = self.broker.runs.cursor(message.id)
            request = dataclasses.replace(request, cursor=None if raw is None else json_loads(raw))
        return Prepared(task, message, request, token, settings.soft_time_limit, settings.time_limit, reporter)

    def _limits(self, task: TaskDefinition, message: Message, request: Request, token: str) -> tuple[bool, Ack | None]:
        """Its rate and concurrency limits: (True, its Ack or None) if it does not run now (it waits in
        Redis for its turn or a free slot, or the token lost it, or a key function failed), else
        (False, None)."""
        if self.app.rate_limits.groups or task.rate_limit is not None:
            try:
                budgets = self.app.rate_limits.budgets(task, message.args, message.kwargs)
            except Exception as exc:  # the task's rate_limit_key failed: the call cannot be placed
                outcome = Outcome(FAILURE, exception=exc, traceback=f"{type(exc).__name__}: {exc}\n(in rate_limit_key)")
                return True, settle(self.app, task, message, request, outcome, token, self.hostname)
            if budgets and not self._rate(token, message, budgets):
                return True, None  # over its limit: back in Redis until its turn (or no longer ours)
        if task.concurrency is not None:
            taken = self._slot(task, message, request, token)
            if taken is not True:
                return True, taken or None
        return False, None

    def _rate(self, token: str, message: Message, budgets: list[tuple[str, float]]) -> bool:
        """Take a start from the task's budgets: True to run now; False if it waits in Redis for its
        turn (or the token lost it).

        A task has one budget whatever shard its message is on: its keys live on shard 0. A message
        on shard 0 (or with one shard) is checked and put back in one script, lua/rate.lua, as
        always. One on another shard takes two steps, since no script spans two shards: the start
        is taken (or a turn reserved) on shard 0, then the message is put back on its own shard if
        it must wait. A crash between the two costs a turn reserved for a message that is not put
        back: it waits for its lease to run out, comes back, and takes a later turn; a slot taken by
        a start that never happens is lost the same way. Either way the task runs a little below its
        rate for a moment, never above it: every start is counted on shard 0 before it happens. The
        other order (put back first, take after) could run a task without its start counted, which
        is the promise a rate limit makes (a partner's API quota) broken; a slower moment is not."""
        broker = self.broker
        if self.config.shards == 1 or broker.shard == 0:
            return broker.runs.rate(token, message, budgets) == 0
        due = self.app.brokers[0].runs.rate_budget(message, budgets)
        if due == 0:
            return True
        # Its turn is by shard 0's clock, the wait by this host's: a clock a little off only moves the
        # moment it asks again, when the budget itself (on shard 0) decides.
        waited = message.replace(options=message.options.replace(rate_waited=True))
        broker.runs.defer(token, max(0.0, due / 1000 - time.time()), waited)
        return False

    def _slot(self, task: TaskDefinition, message: Message, request: Request, token: str) -> Ack | None | bool:
        """Take a slot of the task's concurrency limit (lua/slot.lua): True to run; None if every slot
        is taken (the message waits in the scheduled set a little) or the token lost it; an Ack if
        its key could not be found (sent by name, and its concurrency_key fails here)."""
        assert task.concurrency is not None
        try:
            name = message.options.slot or slot_name(task, message.args, message.kwargs)
        except Exception as exc:
            outcome = Outcome(FAILURE, exception=exc, traceback=f"{type(exc).__name__}: {exc}\n(in concurrency_key)")
            return settle(self.app, task, message, request, outcome, token, self.hostname)
        assert name is not None
        return self.broker.runs.slot(token, message, name, task.concurrency, wait_ms(message.options.slot_waits)) == 1

    def _started(self, task: TaskDefinition, message: Message, request: Request, token: str, started_at: float,
                 history: bool) -> Request | None:
        """Record STARTED (and, for a task that keeps its attempts, this start in its list, which
        its request then carries); None if the token no longer holds the task."""
        # The history keys its rows by task id: its document says which, extended or not.
        about = run_about(self.app, task, message) if history else self._about(task, message)
        payload = encode_state(STARTED, {"pid": os.getpid(), "hostname": self.hostname}, message.task,
                               self.hostname, started_at, about)
        if not task.keeps_attempts:
            return request if self.broker.runs.started(token, message.id, payload, record=history) else None
        attempt = json_dumps({"w": self.hostname, "t": started_at})
        entries = self.broker.runs.started_attempt(token, message.id, payload, attempt, record=history)
        if entries is None:
            return None
        return dataclasses.replace(request, attempts=tuple(raw_loads(entry) for entry in entries))

    def _about(self, task: TaskDefinition, message: Message) -> dict[str, Any] | None:
        return run_about(self.app, task, message) if self.config.result_extended else None

    def _expired(self, task: TaskDefinition, message: Message, token: str) -> Ack:
        logger.warning("Task %s[%s] expired before it started; not run", message.task, message.id)
        self.app.hooks.emit("task_revoked", task_id=message.id, task_name=message.task,
                            reason="expired", terminated=False)
        outcome = Outcome(REVOKED, reason="expired before it started")
        about = run_about(self.app, task, message)
        payload = encode_result(outcome, message.task, "json", self.hostname,
                                about if self.config.result_extended else None)
        history = ""
        if task.settings(message.options, self.config).history:
            history = history_entry(outcome, payload, self.config.result_extended, message.task, self.hostname, about)
        TALLY.add(message.task, message.queue, REVOKED, None, None)
        return Ack(token, message.id, payload, extra=follow_up(self.app, message, outcome, self.hostname),
                   task=message.task, history=history)

    def _unknown(self, delivery: Delivery, message: Message) -> None:
        """In a rolling deploy the web may be newer than this worker: keep the message and offer it
        again with growing pauses; after UNKNOWN_TASK_GRACE, dead letters."""
        now = time.time()
        since = message.options.unknown_since or now
        tries = message.options.unknown_tries
        known = ", ".join(self.app.registry) or "none"
        if now - since >= self.config.unknown_task_grace:
            self.bury(delivery, f"task {message.task!r} is not registered in any worker that took it "
                                f"for {now - since:.0f} s (UNKNOWN_TASK_GRACE); known here: {known}")
            return
        left = self.config.unknown_task_grace - (now - since)
        delay = max(0.1, min(UNKNOWN_FIRST_DELAY * 2 ** tries, UNKNOWN_MAX_DELAY, left))
        later = message.replace(options=message.options.replace(unknown_since=since, unknown_tries=tries + 1))
        self.broker.runs.defer(delivery.token, delay, later)
        logger.error(
            "Task %s[%s] is not registered in this worker; offered again in %gs (kept for up to %gs). "
            "Is its module deployed here and in an installed app's tasks.py? Known: %s",
            message.task, message.id, delay, self.config.unknown_task_grace, known)

    def bury(self, delivery: Delivery, reason: str) -> None:
        """Move a delivery that cannot run to the dead letters, with the reason and the message."""
        moved, trimmed = self.broker.runs.bury(delivery.token, reason, self.hostname)
        if moved:
            logger.error("Message on queue %s cannot be run and was moved to the dead letters: %s",
                         delivery.queue, reason)
        if trimmed:
            logger.warning("Dead letters are full (DEAD_LETTERS_MAX=%d); the %d oldest were dropped",
                           self.config.dead_letters_max, trimmed)
