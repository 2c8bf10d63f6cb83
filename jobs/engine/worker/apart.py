"""User code the supervisor must run but must never wait on: the hooks of a task it had to stop.

When the supervisor kills a child at a task's hard time limit, or terminates a revoked task, or
sees a child die, it records the task's result itself (ended.EndedRuns.settle), and the task's
hooks (on_failure, after_return) and signal receivers (task_failure, the error email) must run too.
On the supervisor's loop they could stop everything it does, lease renewal first: an on_failure
that sleeps, an SMTP server that never answers. So they run apart, bounded:

- prefork: in a process forked for them, killed if it runs longer than HOOKS_LIMIT. The parent of a
  prefork pool stays single-threaded, so forking consumers stays safe;
- threads and solo: in a thread (a thread cannot be killed: past the limit it is only reported).

At shutdown the supervisor waits for them at most HOOKS_SHUTDOWN_WAIT.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import threading
import time
from collections.abc import Callable

logger = logging.getLogger("jobs.worker")

#: How long the hooks of one stopped task may run.
HOOKS_LIMIT = 60.0
HOOKS_SHUTDOWN_WAIT = 5.0


class Apart:
    def __init__(self, forking: bool, before_fork: Callable[[], None] = lambda: None,
                 limit: float = HOOKS_LIMIT) -> None:
        self.forking = forking
        self._before_fork = before_fork
        self.limit = limit
        self._children: dict[int, tuple[float, str]] = {}  # pid -> (deadline, what)
        self._threads: dict[threading.Thread, tuple[float, str]] = {}

    def __call__(self, run: Callable[[], None], what: str) -> None:
        deadline = time.monotonic() + self.limit
        if not self.forking:
            thread = threading.Thread(target=_guarded, args=(run, what), name=f"jobs-hooks {what}", daemon=True)
            self._threads[thread] = (deadline, what)
            thread.start()
            return
        self._before_fork()
        pid = os.fork()
        if pid:
            self._children[pid] = (deadline, what)
            return
        code = 0
        try:
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGTERM, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            _guarded(run, what)
        except BaseException:
            code = 1
        finally:
            logging.shutdown()
            os._exit(code)

    def check(self) -> float:
        """Reap hooks that ended, stop (or report) those past the limit; returns the monotonic time
        of the next deadline to watch."""
        now = time.monotonic()
        wake = now + 3600
        for pid, (deadline, what) in list(self._children.items()):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                del self._children[pid]
            elif now >= deadline:
                logger.error("%s: its hooks (on_failure, signal receivers, error email) ran longer than %gs "
                             "and were stopped", what, self.limit)
                os.kill(pid, signal.SIGKILL)
                self._children[pid] = (now + 3600, what)  # reaped at the next check
            else:
                wake = min(wake, deadline)
        for thread, (deadline, what) in list(self._threads.items()):
            if not thread.is_alive():
                del self._threads[thread]
            elif now >= deadline:
                logger.error("%s: its hooks (on_failure, signal receivers, error email) still run after %gs; "
                             "a thread cannot be stopped, so they go on apart", what, self.limit)
                del self._threads[thread]
            else:
                wake = min(wake, deadline)
        return wake

    @property
    def running(self) -> int:
        return len(self._children) + len(self._threads)

    def wait(self, timeout: float = HOOKS_SHUTDOWN_WAIT) -> None:
        """At shutdown: give hooks still running a moment, then stop (or leave) them."""
        end = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, end - time.monotonic()))
        for pid in list(self._children):
            try:
                fd = os.pidfd_open(pid)
            except OSError:
                continue
            try:
                select.select([fd], [], [], max(0.0, end - time.monotonic()))  # readable once it exits
            finally:
                os.close(fd)
        self.check()
        if self.running:
            logger.warning("%d task(s)' hooks still run as the worker stops; they are stopped", self.running)
            for pid in self._children:
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass


def _guarded(run: Callable[[], None], what: str) -> None:
    try:
        run()
    except Exception:
        logger.exception("%s: its hooks failed", what)
