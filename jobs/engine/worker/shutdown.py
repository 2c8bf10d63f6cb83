"""How a worker stops: signal handling for its main thread, and the shutdown policy, written once
for every pool.

Handlers only count signals and wake the loop; the loop, not the handler, acts on them, so nothing
complicated ever runs inside a signal handler. The handlers are installed by a context manager that
puts the previous ones back.

The policy (Shutdown) prefers a duplicate to a loss: the first SIGTERM or SIGINT stops taking tasks
and gives the running ones `--shutdown-timeout` to finish (warm); the second signal, or the end of
that time, stops them now (cold), and everything they held goes straight back to its queue.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class Signals:
    """Counts SIGTERM/SIGINT and wakes the loop that sleeps in sleep() (via the wakeup fd)."""

    def __init__(self) -> None:
        self.count = 0
        self._warm_at: float | None = None
        self.on_signal: Callable[[int], None] | None = None
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)

    def _handle(self, signum: int, frame: Any) -> None:
        if self._warm_at is not None and time.monotonic() - self._warm_at < ONE_BROADCAST:
            self._warm_at = None  # the same SIGTERM as the parent's WARM, sent to every process at once
            return
        self.count += 1
        if self.on_signal is not None:
            self.on_signal(signum)

    def _warm(self, signum: int, frame: Any) -> None:
        """WARM: a warm shutdown, or nothing more if one has begun (see handled()). A SIGTERM or SIGINT
        that comes right after it is the one the parent passed on, sent to this process too: not a second."""
        if self.count == 0:
            self._handle(signum, frame)
            self._warm_at = time.monotonic()

    def sleep(self, timeout: float) -> None:
        """Sleep until `timeout` passes or any signal arrives (SIGCHLD included)."""
        if timeout > 0:
            ready, _, _ = select.select([self._read], [], [], timeout)
            if not ready:
                return
        try:
            while os.read(self._read, 512):
                pass
        except BlockingIOError:
            pass

    @property
    def wake_fd(self) -> int:
        """Writing a byte here wakes sleep() as a signal would: the consumers' doorbell (board.ring)."""
        return self._write

    @property
    def warm(self) -> bool:
        return self.count >= 1

    @property
    def cold(self) -> bool:
        return self.count >= 2

    def close(self) -> None:
        os.close(self._read)
        os.close(self._write)


logger = logging.getLogger("jobs.worker")

RUNNING, STOPPING, WAITING, NOW = "running", "stopping", "waiting", "now"


class Shutdown:
    """Where a worker is in its shutdown, from the signals it got and the time."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.deadline: float | None = None
        self.why = ""
        #: Asked to stop through Redis (control.shutdown): a warm shutdown, as on the first signal.
        self.requested = False

    @property
    def begun(self) -> bool:
        return self.deadline is not None

    def phase(self, signals: Signals, now: float) -> str:
        """RUNNING; STOPPING (warm shutdown begins now: stop taking tasks); WAITING (for the running
        ones to finish); NOW (the second signal, or the time is up: stop them, hand back, `why`)."""
        if self.deadline is None:
            if not signals.warm and not self.requested:
                return RUNNING
            logger.warning("Warm shutdown: no new tasks; waiting up to %gs for running ones (signal again for a "
                           "cold shutdown)", self.timeout)
            self.deadline = now + self.timeout
            return STOPPING
        if signals.cold or now >= self.deadline:
            self.why = "cold shutdown" if signals.cold else "shutdown timeout"
            return NOW
        return WAITING


#: A SIGTERM this soon after WARM is the same broadcast (seconds).
ONE_BROADCAST = 1.0

#: What the parent of shards' supervisors (shards.py) sends for the first SIGTERM or SIGINT it gets: a
#: warm shutdown that a SIGTERM the supervisor got itself does not make cold. systemd (KillMode
#: control-group, its default) and a terminal's Ctrl-C signal every process of the worker at once.
WARM = signal.SIGUSR2


@contextmanager
def handled(chld: bool = True, warm: bool = False) -> Iterator[Signals]:
    """SIGTERM and SIGINT counted (the loop acts on them), SIGCHLD waking the loop; with `warm`, a
    shard's supervisor's, WARM too, unblocked here (the parent keeps it blocked until this handler is in)."""
    signals = Signals()
    watched = (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, *((WARM,) if warm else ()))
    previous = {sig: signal.getsignal(sig) for sig in watched}
    old_fd = signal.set_wakeup_fd(signals._write, warn_on_full_buffer=False)
    signal.signal(signal.SIGTERM, signals._handle)
    signal.signal(signal.SIGINT, signals._handle)
    if chld:
        signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the loop via the wakeup fd
    if warm:
        signal.signal(WARM, signals._warm)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {WARM})
    try:
        yield signals
    finally:
        signal.set_wakeup_fd(old_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signals.close()
