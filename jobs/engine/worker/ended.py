"""Runs ended from outside, settled by whoever ended them: the supervisor (a child it killed at a
hard time limit or for a revoke with terminate, one that died, worker/watch.py) and an async
runner's watchdog (a task that blocked its event loop, runner.py).

There is no run here to execute, only a delivery still held under its token: it is read back from
Redis, its outcome recorded (fenced: nothing if another worker has it now), and its task's hooks
run, apart from the supervisor's loop when it is the supervisor's (apart.py). Apart from
delivery.py, whose handler a consumer uses for every task it runs.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from ..errors import DecodeError, NotRegistered
from ..execution.settle import notify, record
from ..setup.app import App
from ..setup.definition import TaskDefinition
from ..wire.header import Header
from ..wire.message import decode
from ..wire.outcome import FAILURE, REVOKED, Outcome
from ..wire.request import Request


class EndedRuns:
    """Settles deliveries whose run ended from outside, each on this thread's connection."""

    def __init__(self, app: App, hostname: str) -> None:
        self.app = app
        self.broker = app.broker
        self.hostname = hostname
        self.accept = app.config.accept_content

    def settle(self, token: str, status: str, exception: BaseException | None, why: str,
               apart: Callable[[Callable[[], None], str], None] | None = None,
               started_at: float | None = None) -> bool:
        """Settle a delivery whose run was ended from outside (the supervisor killed its process, or
        the process died): FAILURE with `exception`, or REVOKED. Fenced: False if the token no
        longer held it. The result is recorded first, then the task's hooks and the signals run:
        handed to `apart` (worker/apart.py) if given, so that a hook that blocks (an SMTP server
        that never answers) holds up nothing of the caller's, which is the supervisor's loop."""
        held = self.broker.runs.held(token)
        if held is None:
            return False
        queue, wire = held
        try:
            message = decode(wire, queue, self.accept, self.app.config.signing_keys)
            task = self.app.registry.get(message.task)
        except (DecodeError, NotRegistered) as exc:
            self.broker.runs.bury(token, f"{why}; and then: {exc}", self.hostname)
            return True
        request = Request.of(message, self.hostname)
        # How long it ran, when the board knew when it started (its log line and metrics say so).
        runtime = 0.0 if started_at is None else max(0.0, time.time() - started_at)
        if status == FAILURE:
            assert exception is not None
            outcome = Outcome(FAILURE, exception=exception, runtime=runtime, started_at=started_at,
                              traceback=f"{type(exception).__name__}: {exception}\n({why})")
        else:
            outcome = Outcome(REVOKED, reason=why, runtime=runtime, started_at=started_at)
        ack = record(self.app, task, message, outcome, token, self.hostname)
        settled = bool(ack and not self.broker.deliveries.ack([ack]))
        if not settled:
            return False  # another worker has it: its run's hooks are its own
        if apart is not None:
            apart(functools.partial(notify, self.app, task, message, request, outcome), f"{message.task}[{message.id}]")
        else:
            notify(self.app, task, message, request, outcome)
        return True

    def task_of(self, token: str) -> TaskDefinition | None:
        """The task a held delivery is for (None if the token no longer holds one, or it is unknown)."""
        held = self.broker.runs.held(token)
        if held is None:
            return None
        try:
            return self.app.registry.find(Header(held[1].decode()).task)
        except (DecodeError, UnicodeDecodeError):
            return None
