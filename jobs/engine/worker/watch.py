"""What the supervisor does about running tasks: time limits, terminate, and consumers that died.

- A prefork child past its task's hard time limit is killed; the task fails with TimeLimitExceeded
  and a new child takes the slot, so the worker keeps its full concurrency.
- A thread past its soft limit gets SoftTimeLimitExceeded raised in it (threads have no timers of
  their own; prefork children and solo raise soft limits themselves, see limits.py).
- A task revoked with terminate=True is stopped: its child killed (prefork), or Terminated raised
  in its thread (threads, solo). It ends REVOKED.
- A consumer that died on its own (segfault, os._exit, the OOM killer) while running a task: the
  task fails with WorkerLostError, or goes back to its queue if reject_on_worker_lost=True (counted
  as a lost delivery, which MAX_DELIVERIES bounds). What it held but had not started goes back.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from ..errors import SoftTimeLimitExceeded, Terminated, TimeLimitExceeded, WorkerLostError
from ..execution.limits import interrupts
from ..setup.app import App
from ..wire.outcome import FAILURE, REVOKED
from .apart import Apart
from .board import SETTLE_SECONDS, STALL_SECONDS, Board, Running, Stalled
from .ended import EndedRuns
from .pools import Pool
from .spec import WorkerOptions

logger = logging.getLogger("jobs.worker")


class Supervising(Protocol):
    """What the watch needs of its supervisor (supervisor.py): the slots' tokens, how to settle a
    task it stopped, and how to hand back what a dead consumer held."""

    app: App
    options: WorkerOptions
    board: Board
    ended: EndedRuns
    apart: Apart

    def held(self, slot: int) -> list[str]: ...

    def prefix(self, slot: int) -> str: ...

    def hand_back(self, tokens: list[str], why: str, lost: bool = False) -> None: ...


class Watch:
    def __init__(self, supervisor: Supervising) -> None:
        self.supervisor = supervisor
        self.board = supervisor.board
        self.pool: Pool | None = None  # set once the pool exists (not for solo)
        self.main_thread: int | None = None  # solo: the thread that runs tasks
        self._killing: dict[int, tuple[str, int]] = {}  # slot -> (why, seq) for a kill we ordered
        self._soft_sent: set[tuple[int, int]] = set()  # (slot, seq) given SoftTimeLimitExceeded
        self._stalled: set[int] = set()  # slots whose board write was found under way for too long

    def _running(self, slot: int) -> Running | None:
        """What the slot runs, or None while its consumer's board write stays under way (board.py:
        stopped, or killed half-way): said once, and looked at again at the next tick without
        waiting, so no slot holds the supervisor's loop, its heartbeat or its signals."""
        try:
            running = self.board.running(slot, 0.0 if slot in self._stalled else STALL_SECONDS)
        except Stalled as exc:
            if slot not in self._stalled:
                self._stalled.add(slot)
                logger.error("%s; its time limits and revocations wait until it is done", exc)
            return None
        self._stalled.discard(slot)
        return running

    def running(self) -> list[tuple[str, float]]:
        """(task id, when it started, unix s) of each task the slots run now."""
        found = []
        for slot in range(self.board.slots):
            running = self._running(slot)
            if running is not None and running.task_id:
                found.append((running.task_id, running.started))
        return found

    def _pool(self) -> Pool:
        assert self.pool is not None, "only a pool's consumers are killed or sent exceptions by slot"
        return self.pool

    def check(self) -> float:
        """Enforce time limits now; returns the monotonic time of the next limit to watch."""
        now, mono = time.time(), time.monotonic()
        wake = mono + 3600
        kind = self.pool.kind if self.pool is not None else "solo"
        for slot in range(self.board.slots):
            if kind == "prefork" and self.board.asyncs.per_slot and slot not in self._killing:
                # Async tasks (runner.py): its own watchdog stops a task that blocks the loop; this
                # is the backstop for one that also stops the watchdog (it holds the GIL).
                overdue = self.board.asyncs.overdue(slot)
                if overdue is not None:
                    if now >= overdue[0]:
                        self._kill(slot, "async_time_limit", overdue[1])
                        continue
                    wake = min(wake, mono + overdue[0] - now)
            running = self._running(slot)
            if running is None or slot in self._killing:
                continue
            if kind == "prefork" and running.hard_deadline:
                if now >= running.hard_deadline:
                    self._kill(slot, "settle_limit" if running.returned else "time_limit", running.seq)
                    continue
                wake = min(wake, mono + running.hard_deadline - now)
            if (kind == "threads" and running.soft_deadline and not running.returned
                    and (slot, running.seq) not in self._soft_sent):
                if now >= running.soft_deadline:
                    self._soft_sent.add((slot, running.seq))
                    interrupts.raise_in(self._pool().ident(slot), running.seq, SoftTimeLimitExceeded)
                else:
                    wake = min(wake, mono + running.soft_deadline - now)
        return wake

    def terminate(self, task_ids: list[str]) -> None:
        for slot in range(self.board.slots):
            running = self._running(slot)
            if running is None or running.task_id not in task_ids or slot in self._killing:
                continue
            logger.warning("Task %s was revoked with terminate=True; stopping it", running.task_id)
            if self.pool is not None and self.pool.kind == "prefork":
                self._kill(slot, "revoked", running.seq)
            else:
                thread = self.main_thread if self.pool is None else self.pool.ident(slot)
                interrupts.raise_in(thread, running.seq, Terminated)

    def _kill(self, slot: int, why: str, seq: int) -> None:
        self._killing[slot] = (why, seq)
        self._pool().kill_slot(slot)

    def ended(self, slot: int, how: str, clean: bool) -> None:
        """A consumer ended while the worker is not stopping (or ended uncleanly): settle what it held."""
        sup = self.supervisor
        held = sup.held(slot)
        running = self._running(slot)
        why, killed_seq = self._killing.pop(slot, ("", -1))
        if why == "async_time_limit":  # one async task outran every limit: it fails, the rest go back
            stuck = sup.prefix(slot) + str(killed_seq)
            logger.error("consumer %d killed: an async task ran past its hard time limit and the event loop "
                         "did not stop it (a task holding the GIL?)", slot)
            if stuck in held:
                held.remove(stuck)
                sup.ended.settle(stuck, FAILURE, TimeLimitExceeded("time limit exceeded; its process was "
                                                                        "killed"), "killed at its hard time limit",
                                      sup.apart)
            sup.hand_back(held, f"consumer {slot} was killed", lost=True)
            return
        token: str | None = None
        if running is not None:
            token = sup.prefix(slot) + str(running.seq)
            if why and killed_seq != running.seq:
                why = ""  # the task we meant to stop had already ended; this one was merely in the way
        if token is not None and token in held:
            held.remove(token)
            self._settle_running(slot, token, why, how, running is not None and running.returned,
                                 running.started if running is not None else None)
        elif not clean:
            logger.error("consumer %d %s", slot, how)
        sup.hand_back(held, f"consumer {slot} ended")

    def _settle_running(self, slot: int, token: str, why: str, how: str, returned: bool = False,
                        started: float | None = None) -> None:
        sup, ended = self.supervisor, self.supervisor.ended
        if why == "time_limit" and returned:  # it returned between our look and the kill: not late
            logger.error("consumer %d killed at its task's hard time limit, just as the task returned", slot)
            ended.settle(token, FAILURE, WorkerLostError("its process was killed at the task's hard time limit "
                                                              "just as the task returned; its result was lost"),
                              "killed as it returned", sup.apart)
        elif why == "settle_limit":
            logger.error("consumer %d killed: its task had returned, but its hooks or result took over %gs", slot,
                         SETTLE_SECONDS)
            ended.settle(token, FAILURE, WorkerLostError(
                f"the task returned, but its hooks (on_success, signal receivers...) or the encoding of its result "
                f"ran over {SETTLE_SECONDS:g}s, and its process was stopped; its result was lost"),
                "stopped in its settlement", sup.apart)
        elif why == "time_limit":
            logger.error("consumer %d killed: its task ran past its hard time limit", slot)
            ended.settle(token, FAILURE, TimeLimitExceeded("time limit exceeded; its process was killed"),
                              "killed by the worker at its hard time limit", sup.apart, started)
        elif why == "revoked":
            ended.settle(token, REVOKED, None, "revoked and terminated while running", sup.apart, started)
        else:
            task = ended.task_of(token)
            logger.error("consumer %d %s while running a task%s", slot, how,
                         f" of {task.name}" if task is not None else "")
            if task is not None and task.reject_on_worker_lost:
                sup.hand_back([token], "its worker was lost (reject_on_worker_lost)", lost=True)
            else:
                ended.settle(token, FAILURE, WorkerLostError(f"the process running the task {how}"),
                                  f"worker process {how}", sup.apart, started)

    def warn_at_start(self) -> None:
        """A worker that can hang forever should say so when it starts."""
        app, options = self.supervisor.app, self.supervisor.options
        config = app.config
        tasks = [app.registry.get(name) for name in app.registry]
        unlimited = [t.name for t in tasks if not (t.time_limit or t.soft_time_limit)]
        if not (config.time_limit or config.soft_time_limit) and unlimited:
            logger.warning("No time limit is set for %d task(s): %s. A task that hangs will hold its "
                           "worker slot forever; set JOBS['TIME_LIMIT'] or @task(time_limit=...).",
                           len(unlimited), ", ".join(unlimited))
        if options.pool == "threads" and (config.time_limit or any(t.time_limit for t in tasks)):
            logger.warning("--pool threads cannot enforce hard time limits (a thread cannot be killed); "
                           "soft time limits are enforced, hard ones are not. Use prefork to enforce both.")
