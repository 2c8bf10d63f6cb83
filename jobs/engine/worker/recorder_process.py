"""The process the history's recorder (recorder.py) runs in, and the outbox's relay (send/relay.py,
in a thread: JOBS["OUTBOX"]): forked, watched, restarted and stopped by the supervisor. The one
process of a worker that talks to the database.

A process of its own whatever the pool: its decoding and database writes never take CPU time or the
GIL from the tasks' threads, a database driver that hangs holds up nothing of the worker's, and the
supervisor restarts it if it dies. It runs at a lower scheduling priority (NICENESS) than the
consumers: when tasks keep every CPU busy, their outcomes wait in Redis (bounded, ops/records.py)
and are written when there is time, rather than the tasks waiting for the history.

Forked from the supervisor like a prefork consumer (pools.py): it dies with its parent, ignores
SIGINT, and stops in order on SIGTERM (after the batch it is writing).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable

from ..send.relay import Relay
from ..setup.app import App
from .pools import describe_status, die_with_parent, exited_cleanly, fork_holding_sigterm, send_signal
from .recorder import Recorder

logger = logging.getLogger("jobs.history")

#: How much lower its priority is than the consumers' (os.nice).
NICENESS = 19
#: How long a stopping worker waits for its recorder to finish its batch before killing it.
STOP_TIMEOUT = 10.0


class RecorderProcess:
    def __init__(self, app: App, name: str, before_fork: Callable[[], None]) -> None:
        self.app = app
        self.name = name
        self._before_fork = before_fork
        self.pid: int | None = None
        self._born = 0.0
        self._quick_deaths = 0
        self._restart_at: float | None = None
        self._stopping = False

    @staticmethod
    def wanted(app: App) -> bool:
        """Whether a worker has one: a history to write, or an outbox to relay."""
        return ((app.config.history and app.history_store is not None)
                or (app.config.outbox and app.outbox_store is not None))

    def start(self) -> None:
        self._before_fork()
        parent = os.getpid()
        pid = fork_holding_sigterm()
        if pid:
            self.pid = pid
            self._born = time.monotonic()
            return
        code = 0
        try:
            stop = threading.Event()
            broker = self.app.broker

            def on_term(*_: object) -> None:
                stop.set()
                broker.wait_link().interrupt()  # a read blocked waiting for records ends now

            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, on_term)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            die_with_parent(parent)
            multiprocessing.current_process().name = "Recorder"  # processName in log lines
            os.nice(NICENESS)
            self._run(stop)
        except BaseException:
            logger.exception("the history recorder crashed")
            code = 1
        finally:
            logging.shutdown()
            os._exit(code)

    def _run(self, stop: threading.Event) -> None:
        app = self.app
        relay = None
        if app.config.outbox and app.outbox is not None:
            relay = threading.Thread(target=Relay(app, app.outbox, self.name).run, args=(stop,), name="relay",
                                     daemon=True)
            relay.start()
        if app.config.history and app.history_store is not None:
            Recorder(app, app.history_store(), self.name).run(stop)
        else:
            while not stop.wait(1.0):  # a signal handler sets it: woken at least each second
                pass
        if relay is not None:
            relay.join(STOP_TIMEOUT / 2)

    def check(self, now: float) -> float:
        """Reap it if it ended, restart it (with growing pauses if it keeps dying at once); the
        monotonic time this wants to be called again."""
        if self.pid is not None:
            try:
                done, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                done, status = self.pid, 0xFF00
            if done:
                self.pid = None
                if not self._stopping:
                    self._quick_deaths = self._quick_deaths + 1 if now - self._born < 5 else 0
                    pause = 0.0 if self._quick_deaths <= 1 else min(2.0 ** (self._quick_deaths - 2), 30.0)
                    logger.error("the history recorder %s; restarted in %gs", describe_status(status), pause)
                    self._restart_at = now + pause
                elif not exited_cleanly(status):
                    logger.warning("the history recorder %s while stopping", describe_status(status))
        if self._restart_at is not None and now >= self._restart_at and not self._stopping:
            self._restart_at = None
            self.start()
        return self._restart_at if self._restart_at is not None else now + 1.0

    def stop(self) -> None:
        """Ask it to stop after the batch it is writing (SIGTERM)."""
        self._stopping = True
        if self.pid is not None:
            send_signal(self.pid, signal.SIGTERM)

    def join(self, timeout: float = STOP_TIMEOUT) -> None:
        """Wait for it to end, then kill it: its unfinished records wait in Redis for a recorder."""
        self.stop()
        deadline = time.monotonic() + timeout
        while self.pid is not None:
            try:
                done, _ = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                done = self.pid
            if done:
                self.pid = None
                return
            if time.monotonic() >= deadline:
                send_signal(self.pid, signal.SIGKILL)
                try:
                    os.waitpid(self.pid, 0)
                except ChildProcessError:
                    pass
                self.pid = None
                return
            time.sleep(0.05)  # a child's exit has no event to wait on that the supervisor's loop does not own
