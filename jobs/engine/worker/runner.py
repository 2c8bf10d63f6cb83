"""Several async tasks at once in one consumer (`runworker --async-concurrency N`).

The consumer hands an `async def` task to this runner instead of running it inline, and goes on
fetching while it runs: up to N async tasks share an event loop in a thread of the consumer's
process. When one ends, its settlement (hooks, signals, the Ack built by the same settle() as any
task) runs in a helper thread, off the loop, and its ack is sent from there at once, fenced by its
delivery token like any ack: a finished task does not wait for the consumer, which may be running
a long sync task meanwhile.

Nothing changes for the guarantees. The seqs of running async tasks are on the board beside the
consumer's held range, so the supervisor renews their leases and hands them back (counted as
lost) if the process dies; the held range itself moves on, so one long async task does not make
the supervisor renew every token fetched since it started.

Time limits are timers on the loop (execute.execute_async). A task that blocks the loop (sync code
that never awaits) stops every timer. A heartbeat on the loop shows it: once the loop has been
stuck for WATCHDOG_GRACE in a task past its hard limit, the watchdog fails that task (the one the
loop is stuck in, not whichever is oldest) and ends the process, which the supervisor replaces.
A task that holds the GIL stops the watchdog too: for that, the earliest hard deadline of the
running async tasks is on the board, and the supervisor kills the process past it (watch.py).
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

from .board import Board

logger = logging.getLogger("jobs.worker")

#: How long the loop may be stuck in a task past its hard limit before the watchdog steps in (s).
WATCHDOG_GRACE = 5.0
#: The supervisor's own backstop (a task holding the GIL): this long past the earliest hard limit.
SUPERVISOR_GRACE = 2 * WATCHDOG_GRACE
BEAT = 0.25


@dataclass
class _Running:
    """An async task on the loop, with what its watchdog needs."""

    seq: int
    token: str
    name: str
    task_id: str
    hard: float | None
    hard_deadline: float | None  # monotonic
    cell: int  # its place in the board's async seqs of this slot


class AsyncRunner:
    def __init__(self, capacity: int, board: Board, slot: int, fail_stuck: Callable[[str, str], object]) -> None:
        self.capacity = capacity
        self.cells = board.asyncs  # its tasks' seqs and earliest deadline, for the supervisor
        self.slot = slot
        self._fail_stuck = fail_stuck
        self.done: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._running: dict[int, _Running] = {}
        self._free = list(range(capacity))
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._beat = time.monotonic()
        self._warned: set[int] = set()
        self._thread = threading.Thread(target=self._serve, name="jobs-async", daemon=True)
        self._thread.start()
        threading.Thread(target=self._watch, name="jobs-async-watchdog", daemon=True).start()

    def _serve(self) -> None:
        def beat() -> None:
            self._beat = time.monotonic()
            self._loop.call_later(BEAT, beat)

        self._loop.call_soon(beat)
        self._loop.run_forever()

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._running)

    def submit(self, seq: int, token: str, name: str, task_id: str, hard: float | None,
               run: Callable[[], Any]) -> None:
        """Start run() (a coroutine function that settles the task and sends its ack) on the loop.
        The caller keeps in_flight below capacity (wait_one)."""
        with self._lock:
            cell = self._free.pop()
            self._running[seq] = _Running(seq, token, name, task_id, hard,
                                          time.monotonic() + hard if hard else None, cell)
            self.cells.hold(self.slot, cell, seq)
            self._publish_deadline()
        asyncio.run_coroutine_threadsafe(self._run(seq, run), self._loop)

    async def _run(self, seq: int, run: Callable[[], Any]) -> None:
        try:
            await run()
        except BaseException:
            logger.exception("an async task's settlement failed in the worker; it runs again when its lease "
                             "runs out")
        finally:
            with self._lock:
                done = self._running.pop(seq, None)
                if done is not None:
                    self.cells.release(self.slot, done.cell)
                    self._free.append(done.cell)
                self._publish_deadline()
            self.done.put(seq)

    def _publish_deadline(self) -> None:
        """The earliest hard limit among the running async tasks, for the supervisor (lock held)."""
        timed = [r for r in self._running.values() if r.hard_deadline is not None]
        if not timed:
            self.cells.deadline(self.slot, 0, -1)
            return
        first = min(timed, key=lambda r: r.hard_deadline or 0.0)
        wall = time.time() + (first.hard_deadline or 0.0) - time.monotonic() + SUPERVISOR_GRACE
        self.cells.deadline(self.slot, int(wall * 1000), first.seq)

    def wait_one(self, timeout: float) -> bool:
        """Block until an async task finishes (True) or `timeout` passes."""
        try:
            self.done.get(timeout=timeout)
        except queue.Empty:
            return False
        return True

    def _watch(self) -> None:
        while True:
            time.sleep(0.5)
            now = time.monotonic()
            if now - self._beat < WATCHDOG_GRACE:
                continue
            current = asyncio.current_task(self._loop)  # the task the loop is stuck in
            name = current.get_name() if current is not None else ""
            with self._lock:
                culprit = next((r for r in self._running.values() if name == f"jobs:{r.task_id}"), None)
            if culprit is None:
                continue
            if culprit.hard_deadline is None or now < culprit.hard_deadline + WATCHDOG_GRACE:
                if culprit.hard_deadline is None and culprit.seq not in self._warned:
                    self._warned.add(culprit.seq)
                    logger.warning("Task %s[%s] has blocked the event loop for %.0fs and has no time limit: every "
                                   "async task of this process waits for it", culprit.name, culprit.task_id,
                                   now - self._beat)
                continue
            logger.critical("Task %s[%s] went %.0fs past its hard time limit without yielding to the event "
                            "loop (sync code in an async task?); it fails with TimeLimitExceeded, and this "
                            "process ends so that the supervisor replaces it", culprit.name, culprit.task_id,
                            now - culprit.hard_deadline)
            try:  # settled as the supervisor settles a child it killed; the rest is handed back
                self._fail_stuck(culprit.token, f"hard time limit ({culprit.hard:g}s) exceeded; the task "
                                                "blocked its event loop")
            except Exception:
                logger.exception("could not settle the stuck task; it runs again when its lease runs out")
            logging.shutdown()
            os._exit(70)
