"""Time limits, and stopping a task from outside.

Soft limits run in the process of the task: in a process's main thread (prefork children, solo) a
SIGALRM timer raises SoftTimeLimitExceeded inside the task, which may catch it to clean up. Hard
limits come from outside: a prefork child past its hard limit is killed by its supervisor (a task
stuck in C code cannot ignore that); in solo the timer raises HardTimeLimit, a BaseException that
``except Exception`` in the task cannot swallow. Threads have no timers of their own: the supervisor
raises the exception in the thread (PyThreadState_SetAsyncExc), which takes effect at the thread's
next Python instruction, and no hard limit can be enforced (a thread cannot be killed).

Such an exception must land in the task, never in the worker's own code after the task returned
(its ack, its next fetch: a connection read half-way, a consumer that crashes). So a thread is
`armed` while its task runs (interrupts.arm, from the consumer's on_start inside execute()), and
the supervisor raises into it only while it is armed for the run it means, under a lock that
disarm() takes too; disarm() also withdraws an exception raised but not yet delivered. execute()
disarms inside the block that turns exceptions into outcomes, so one delivered during the disarm
itself is the task's outcome (its limit fired while it still ran), and none can come after.
"""

from __future__ import annotations

import ctypes
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import HardTimeLimit, SoftTimeLimitExceeded


@contextmanager
def alarms(soft: float | None, hard: float | None) -> Iterator[None]:
    """Raise SoftTimeLimitExceeded after `soft` s and HardTimeLimit after `hard` s (main thread only;
    elsewhere this does nothing and the supervisor is in charge)."""
    if (not soft and not hard) or threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[str] = []
    first, second = (soft, hard) if soft and (not hard or soft < hard) else (hard, None)

    def on_alarm(signum: int, frame: object) -> None:
        if soft and not fired and first == soft:
            fired.append("soft")
            if second:
                signal.setitimer(signal.ITIMER_REAL, second - soft)
            raise SoftTimeLimitExceeded(f"soft time limit ({soft:g} s) exceeded")
        fired.append("hard")
        raise HardTimeLimit(f"time limit ({hard:g} s) exceeded")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, first or 0.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def raise_in_thread(thread_id: int, exception: type[BaseException] | None) -> bool:
    """Make `exception` raise in another thread at its next Python instruction (None: withdraw
    one raised there and not yet delivered)."""
    what = ctypes.py_object(exception) if exception is not None else None
    done: int = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), what)
    return done == 1


class Interrupts:
    """Which threads run a task now, so that exceptions are raised into tasks, never into the worker
    (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[int, int] = {}  # thread id -> seq of the delivery its task runs

    def arm(self, seq: int) -> None:
        with self._lock:
            self._armed[threading.get_ident()] = seq

    def disarm(self) -> None:
        thread = threading.get_ident()
        with self._lock:
            if self._armed.pop(thread, None) is not None:
                raise_in_thread(thread, None)

    def raise_in(self, thread_id: int | None, seq: int, exception: type[BaseException]) -> bool:
        """Raise `exception` in the thread if it still runs the task of delivery `seq`."""
        with self._lock:
            if thread_id is None or self._armed.get(thread_id) != seq:
                return False
            return raise_in_thread(thread_id, exception)


interrupts = Interrupts()
