"""Several async tasks at once in one consumer (`runworker --async-concurrency N`).

The consumer hands an `async def` task to this runner instead of running it inline, and goes on
fetching while it runs: up to N async tasks share an event loop in a thread of the consumer's
process. Each one's settlement (its Ack, built by the same settle() as any task) comes back to the
consumer, which sends it with its next fetch, as it sends any ack; a consumer blocked waiting for
work is nudged awake to send it.

Nothing changes for the guarantees: the deliveries stay in the consumer's held range on the board
until their acks are stored, so the supervisor renews their leases while they run and hands them
back if the process dies. Time limits are timers on the loop (execute.execute_async). A task that
blocks the loop (sync code that never awaits) stops every timer: the watchdog notices a task past
its hard limit by WATCHDOG_GRACE and ends the process, as the supervisor would kill a stuck child;
the supervisor then settles or hands back what the process held.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..broker import Ack

logger = logging.getLogger("jobs.worker")

#: How long past its hard limit an async task may go unstopped before its process is ended.
WATCHDOG_GRACE = 5.0


@dataclass
class _Running:
    seq: int
    token: str
    name: str
    task_id: str
    hard: float | None
    hard_deadline: float | None  # monotonic


class AsyncRunner:
    def __init__(self, capacity: int, nudge: Callable[[], None], fail_stuck: Callable[[str, str], Any]) -> None:
        self.capacity = capacity
        self._fail_stuck = fail_stuck
        self.done: queue.SimpleQueue[tuple[int, Ack | None]] = queue.SimpleQueue()
        self._nudge = nudge
        self._running: dict[int, _Running] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="jobs-async", daemon=True)
        self._thread.start()
        threading.Thread(target=self._watch, name="jobs-async-watchdog", daemon=True).start()

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._running)

    def seqs(self) -> list[int]:
        with self._lock:
            return list(self._running)

    def submit(self, seq: int, token: str, name: str, task_id: str, hard: float | None,
               run: Callable[[], Any]) -> None:
        """Start run() (a coroutine function returning the Ack) on the loop."""
        with self._lock:
            self._running[seq] = _Running(seq, token, name, task_id, hard,
                                          time.monotonic() + hard if hard else None)
        asyncio.run_coroutine_threadsafe(self._run(seq, run), self._loop)

    async def _run(self, seq: int, run: Callable[[], Any]) -> None:
        ack: Ack | None = None
        try:
            ack = await run()
        except BaseException:
            logger.exception("an async task's settlement failed in the worker; it runs again when its lease "
                             "runs out")
        finally:
            with self._lock:
                self._running.pop(seq, None)
            self.done.put((seq, ack))
            self._nudge()

    def wait_one(self, timeout: float) -> bool:
        """Block until an async task finishes (True) or `timeout` passes."""
        try:
            item = self.done.get(timeout=timeout)
        except queue.Empty:
            return False
        self.done.put(item)  # the consumer collects it with the others
        return True

    def collect(self) -> list[tuple[int, Ack | None]]:
        out = []
        while True:
            try:
                out.append(self.done.get_nowait())
            except queue.Empty:
                return out

    def _watch(self) -> None:
        while True:
            time.sleep(0.5)
            now = time.monotonic()
            with self._lock:
                stuck = [r for r in self._running.values()
                         if r.hard_deadline is not None and now > r.hard_deadline + WATCHDOG_GRACE]
            if stuck:
                r = stuck[0]
                logger.critical("Task %s[%s] went %.0fs past its hard time limit without yielding to the event "
                                "loop (sync code in an async task?); it fails with TimeLimitExceeded, and this "
                                "process ends so that the supervisor replaces it", r.name, r.task_id,
                                now - (r.hard_deadline or now))
                try:  # settled as the supervisor settles a child it killed; the rest is handed back
                    self._fail_stuck(r.token, f"hard time limit ({r.hard:g}s) exceeded; the task blocked its "
                                              "event loop")
                except Exception:
                    logger.exception("could not settle the stuck task; it runs again when its lease runs out")
                logging.shutdown()
                os._exit(70)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
