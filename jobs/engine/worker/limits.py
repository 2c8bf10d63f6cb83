"""Time limits, and stopping a task from outside.

Soft limits run in the process of the task: in a process's main thread (prefork children, solo) a
SIGALRM timer raises SoftTimeLimitExceeded inside the task, which may catch it to clean up. Hard
limits come from outside: a prefork child past its hard limit is killed by its supervisor (a task
stuck in C code cannot ignore that); in solo the timer raises HardTimeLimit, a BaseException that
``except Exception`` in the task cannot swallow. Threads have no timers of their own: the supervisor
raises the exception in the thread (PyThreadState_SetAsyncExc), which takes effect at the thread's
next Python instruction, and no hard limit can be enforced (a thread cannot be killed).
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


def raise_in_thread(thread_id: int, exception: type[BaseException]) -> bool:
    """Make `exception` raise in another thread at its next Python instruction."""
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exception))
    return done == 1
