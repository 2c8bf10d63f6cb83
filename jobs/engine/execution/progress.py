"""A running task's own state: self.update_state(state="PROGRESS", meta={...}) and self.progress(),
and a resumable task's checkpoints (self.checkpoint(cursor), stored at once).

What a task reports is stored as its result document (AsyncResult.state and .info show it from any
process) while the run's delivery still holds the task: a worker that lost its lease, whose task
another worker now runs, cannot overwrite that run's state (lua/started.lua checks the token, as
an ack does). Once the run is settled its ack has replaced the state, and a late update is refused
the same way.

An update costs one round trip, and a task may call it in a tight loop: updates closer together
than INTERVAL are coalesced. The first goes out at once; later ones within the interval replace each
other, and the last of them is sent when the interval has passed, by a thread of this process's
(the task does not wait), so the state shown is never older than INTERVAL.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ..errors import CheckpointStop, EncodeError
from ..redis.connection import RETRYABLE
from ..setup.app import App
from ..wire.outcome import encode_state
from ..wire.serializers import json_dumps

logger = logging.getLogger("jobs.worker")

#: At most this many updates a second reach Redis from one run.
INTERVAL = 0.25
#: Guards every reporter's pending update: updates are rare (a few a second per run), a lock each
#: would cost every run that never reports.
_LOCK = threading.Lock()


class Reporter:
    """The state updates of one run (one delivery), fenced by its delivery token."""

    __slots__ = ("_app", "token", "task_id", "task", "hostname", "_about", "_about_doc", "started_at", "_last",
                 "_pending", "_closed")

    def __init__(self, app: App, token: str, task_id: str, task: str, hostname: str,
                 about: Callable[[], dict[str, Any] | None], started_at: float) -> None:
        # Made for every run, used by few: nothing here but assignments (the lock is shared, _LOCK).
        self._app = app
        self.token = token
        self.task_id = task_id
        self.task = task
        self.hostname = hostname
        self._about = about
        self._about_doc: dict[str, Any] | None = None
        self.started_at = started_at
        self._last = 0.0  # monotonic time of the last update sent
        self._pending: str | None = None
        self._closed = False

    def update(self, state: str, meta: Any) -> None:
        """Store `state` with `meta` now, or (within INTERVAL of the last) as soon as the interval
        has passed. Raises EncodeError at once if JSON cannot carry meta."""
        if self._about_doc is None:
            self._about_doc = self._about() or {}
        try:
            doc = encode_state(state, meta, self.task, self.hostname, self.started_at, self._about_doc)
        except (TypeError, ValueError) as exc:
            raise EncodeError(f"{self.task}: the meta of update_state({state!r}) cannot be stored: {exc}; "
                              "pass plain data (dicts, lists, strings, numbers)") from exc
        with _LOCK:
            if self._closed:
                return
            now = time.monotonic()
            if self._pending is None and now - self._last >= INTERVAL:
                self._last = now
                send = True
            else:
                first = self._pending is None
                self._pending = doc
                send = False
                if first:
                    _flusher().add(self, self._last + INTERVAL)
        if send:
            self._send(doc)

    def checkpoint(self, cursor: Any) -> None:
        """A resumable task's checkpoint, stored before the task goes on (lua/checkpoint.lua): one
        round trip. Raises CheckpointStop if the task was revoked or this run lost it."""
        try:
            text = json_dumps(cursor)
        except (TypeError, ValueError) as exc:
            raise EncodeError(f"{self.task}: checkpoint({cursor!r}): a cursor must be JSON (a number, a string, "
                              f"a list or dict of them): {exc}") from exc
        held = self._app.broker.runs.checkpoint(self.token, self.task_id, text)
        if held == 2:
            raise CheckpointStop(f"{self.task}[{self.task_id}] was revoked: stopped at its checkpoint {text}")
        if held == 0:
            raise CheckpointStop(f"{self.task}[{self.task_id}]: this run no longer holds the task (its lease ran "
                                 "out; another worker runs it): stopped at its checkpoint")

    def flush(self) -> None:
        """Send the pending update (the flusher thread calls this when its interval has passed)."""
        with _LOCK:
            doc, self._pending = self._pending, None
            if doc is None or self._closed:
                return
            self._last = time.monotonic()
        self._send(doc)

    def close(self) -> None:
        """The run ended: its ack says what happened, and a pending update is dropped."""
        if not self._last:  # it never reported: nothing pending, no flusher holds it
            self._closed = True
            return
        with _LOCK:
            self._closed = True
            self._pending = None

    def _send(self, doc: str) -> None:
        try:
            if not self._app.broker.runs.started(self.token, self.task_id, doc, record=False):
                logger.debug("Task %s[%s]: state update refused (this run no longer holds the task)",
                             self.task, self.task_id)
        except RETRYABLE as exc:  # a progress report is not worth failing the task for
            logger.warning("Task %s[%s]: its state could not be stored (%s); the task goes on",
                           self.task, self.task_id, exc)


class _Flusher:
    """One thread per process that sends coalesced updates when their interval has passed."""

    def __init__(self) -> None:
        self._due: dict[Reporter, float] = {}
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="jobs-progress", daemon=True)
        self._thread.start()

    def add(self, reporter: Reporter, when: float) -> None:
        with self._cond:
            self._due[reporter] = when
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._due:
                    self._cond.wait()
                now = time.monotonic()
                ready = [r for r, when in self._due.items() if when <= now]
                for r in ready:
                    del self._due[r]
                if not ready:
                    self._cond.wait(min(self._due.values()) - now)
                    continue
            for reporter in ready:
                try:
                    reporter.flush()
                except Exception:  # never let one report stop the others
                    logger.exception("a task's state update failed")


_flusher_of: tuple[int, _Flusher] | None = None
_flusher_lock = threading.Lock()


def _flusher() -> _Flusher:
    """This process's flusher (a forked child starts its own: threads do not survive a fork)."""
    global _flusher_of
    pid = os.getpid()
    with _flusher_lock:
        if _flusher_of is None or _flusher_of[0] != pid:
            _flusher_of = (pid, _Flusher())
        return _flusher_of[1]
