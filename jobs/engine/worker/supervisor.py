"""The worker's supervisor: starts the consumers and keeps the promises none of them can keep alone.

Each tick (at least once a second, sooner on a signal, a child's exit or a time limit) it:
1. reaps consumers that ended, settles what they held (watch.py decides how), starts replacements;
2. renews the leases of everything the consumers hold (every LEASE_SECONDS / 3; duties.py, as 3).
   With prefork this is the parent process, so a task that holds the GIL in C code for minutes does
   not lose its lease; with threads or solo it is a thread of the same process, which such a task
   would starve. This loop never runs user code, which could stop it: the hooks of a task it stops
   run apart (apart.py);
3. runs maintain.lua about once a second: due countdown/ETA messages onto their queues, expired
   leases of dead workers back onto theirs, this worker's heartbeat and what it runs since when (for
   the console), which of its running tasks were revoked with terminate=True, and whether it was
   asked to stop (control.shutdown: then as on SIGTERM, below);
4. stops tasks past their hard time limit or revoked with terminate (watch.py);
5. gives back what a consumer took ahead of a task that runs long (giveback.py), as soon as it has
   run WORKER_GIVE_BACK_AFTER, not at the next tick.

Shutdown has an order and a deadline, and prefers a duplicate to a loss: the first SIGTERM/SIGINT
stops fetching and lets running tasks finish within the shutdown timeout; then, or at a second
signal, the consumers are killed and everything they held is handed straight back to its queue.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable

from ..redis.connection import RETRYABLE
from ..redis.tally import TALLY
from ..setup.app import App
from .apart import Apart
from .board import Board
from .consumer import Consumer
from .duties import Duties
from .ended import EndedRuns
from .giveback import GiveBack
from .pools import Pool, ProcessPool, ThreadPool, describe_status, exited_cleanly
from .recorder_process import RecorderProcess
from .shutdown import NOW, STOPPING, Shutdown, Signals, handled
from .spec import WorkerOptions
from .watch import Watch

logger = logging.getLogger("jobs.worker")

TICK = 1.0


class Supervisor:
    def __init__(self, app: App, options: WorkerOptions) -> None:
        self.app = app
        self.options = options
        self.uid = secrets.token_hex(8)  # tokens of two live workers must never collide
        self.worker_id = f"{options.hostname}.{self.uid}"
        self.size = 1 if options.pool == "solo" else options.concurrency
        self.board = Board(self.size, options.async_concurrency if options.async_concurrency > 1 else 0)
        TALLY.worker = self.worker_id  # the outcomes it settles itself (a task it stopped) count as its own
        self.generation = [0] * self.size
        self.ended = EndedRuns(app, options.hostname)  # the runs it ends (watch.py) are settled here
        #: Where the hooks of tasks this supervisor stops run: never on its own loop (apart.py).
        self.apart = Apart(forking=options.pool == "prefork", before_fork=lambda: app.hooks.emit("before_fork"))
        self.watch = Watch(self)
        self.giveback = GiveBack(app, self.board, self.prefix)
        self.shutdown = Shutdown(options.shutdown_timeout)
        self.duties = Duties(self)
        #: What stops the solo pool's consumer when the worker is asked to stop (a pool's stop through the loop).
        self._stop_solo: Callable[[], None] = lambda: None
        self._born = [0.0] * self.size  # when each slot's consumer was started
        self._respawn_at: dict[int, float] = {}  # slot -> when to start a new consumer
        self._quick_deaths = [0] * self.size
        #: The history's recorder (recorder.py, recorder_process.py), and the outbox's relay (send/relay.py): one
        #: process per worker, the one that talks to the database, when there is a history to write or an outbox.
        self.recorder: RecorderProcess | None = None
        if RecorderProcess.wanted(app):
            self.recorder = RecorderProcess(app, self.worker_id, lambda: app.hooks.emit("before_fork"))

    # -- tokens --------------------------------------------------------------------------------

    def prefix(self, slot: int) -> str:
        return f"{self.uid}.{slot}.{self.generation[slot]}."

    def held(self, slot: int) -> list[str]:
        prefix = self.prefix(slot)
        held = self.board.held(slot)
        asyncs = self.board.asyncs
        extra = [seq for seq in asyncs.seqs(slot) if seq not in held] if asyncs.per_slot else []
        return [prefix + str(seq) for seq in (*held, *extra)]

    def make_consumer(self, slot: int, prefix: str) -> Consumer:
        return Consumer(self.app, self.options.queues, slot, prefix, self.board, self.options.prefetch,
                        self.options.hostname, hard_limits_here=self.options.pool == "solo",
                        interruptible=self.options.pool != "prefork",
                        worker_id=self.worker_id, async_concurrency=self.options.async_concurrency)

    def asked_to_stop(self) -> None:
        """control.shutdown (maintain.lua says so): as on SIGTERM."""
        if not self.shutdown.begun and not self.shutdown.requested:
            logger.warning("Asked to stop (control.shutdown)")
            self.shutdown.requested = True
            self._stop_solo()

    def all_held(self) -> list[str]:
        return [t for slot in range(self.size) for t in self.held(slot)]

    def hand_back(self, tokens: list[str], why: str, lost: bool = False) -> None:
        if not tokens:
            return
        try:
            count = self.app.broker.leases.requeue(tokens, lost=lost)
        except RETRYABLE as exc:
            logger.error("could not hand back deliveries (%s); they return when their leases run out", exc)
            return
        if count:
            logger.warning("%s: %d unfinished task(s) handed back to their queues", why, count)

    def _forget_worker(self) -> None:
        try:
            self.app.broker.workers.forget(self.worker_id)
        except RETRYABLE:
            pass

    # -- main loops ----------------------------------------------------------------------------

    def run(self) -> None:
        self.watch.warn_at_start()
        try:
            self.app.broker.workers.hello(self.worker_id, self.options.queues)
        except RETRYABLE as exc:  # the queues SET gets them with their next send, the heartbeat with maintain
            logger.warning("could not list this worker's queues in Redis: %s", exc)
        self.app.hooks.emit("worker_ready", hostname=self.options.hostname)
        try:
            if self.recorder is not None and self.options.pool != "prefork":
                self.recorder.start()  # before any thread of ours exists: a fork copies only this one
            if self.options.pool == "solo":
                self._run_solo()
            else:
                self._run_pool()
        finally:
            self.hand_back(self.giveback.pending, "stopped")  # taken back while Redis failed
            if self.recorder is not None:
                self.recorder.join()
            self.apart.wait()
            self.app.hooks.emit("worker_shutdown", hostname=self.options.hostname)
            self._forget_worker()
            logger.info("%s stopped", self.options.hostname)

    def _run_pool(self) -> None:
        hooks = self.app.hooks
        if self.options.pool == "prefork":
            pool: Pool = ProcessPool(self.size, self.make_consumer, lambda: hooks.emit("before_fork"),
                                    lambda: hooks.emit("child_started"))
        else:
            pool = ThreadPool(self.size, self.make_consumer)
        self.watch.pool = pool
        with handled(warm=self.options.forwarded) as signals:
            self.board.ring_fd(signals.wake_fd)
            for slot in range(self.size):  # before the first duties: they cost 5-17 ms, the consumers wait for none
                self._start(pool, slot)
            if self.recorder is not None and pool.kind == "prefork":
                # After the consumers (processes: no thread of ours exists yet that a fork would lose), so
                # that their first fetch does not wait for its fork (~3 ms); it reads what they record
                # from Redis, where it waits for it, so it has nothing to miss by starting second.
                self.recorder.start()
            self.duties.due(time.monotonic())
            logger.info("%s ready.", self.options.hostname)
            while True:
                now = time.monotonic()
                for slot, status in pool.reap():
                    self._ended(pool, slot, status, now)
                for slot, when in list(self._respawn_at.items()):
                    if now >= when and not self.shutdown.begun:
                        del self._respawn_at[slot]
                        self._start(pool, slot)
                phase = self.shutdown.phase(signals, now)
                if phase == STOPPING:
                    pool.request_stop()
                if phase == NOW:
                    self._kill(pool, self.shutdown.why, signals)
                    break
                if self.shutdown.begun and pool.alive() == 0:
                    break
                wake = min([self.duties.due(now), self.watch.check(), self.giveback.check(now), self.apart.check(),
                            self._check_recorder(now), *self._respawn_at.values()])
                signals.sleep(max(0.0, min(wake - time.monotonic(), TICK)))

    def _check_recorder(self, now: float) -> float:
        if self.recorder is None:
            return float("inf")
        if self.shutdown.begun:
            self.recorder.stop()  # it finishes its batch while the consumers finish their tasks
            return float("inf")
        return self.recorder.check(now)

    def _start(self, pool: Pool, slot: int) -> None:
        self.board.clear(slot)
        self.board.asyncs.clear(slot)
        self.board.new_lock(slot)
        self._born[slot] = time.monotonic()
        pool.start(slot, self.prefix(slot))

    def _ended(self, pool: Pool, slot: int, status: int, now: float) -> None:
        stopping = self.shutdown.begun
        if not stopping or not exited_cleanly(status):
            self.watch.ended(slot, describe_status(status), clean=exited_cleanly(status))
        else:
            self.hand_back(self.held(slot), f"consumer {slot} ended")  # a clean exit holds nothing
        self.board.clear(slot)
        if not stopping:
            self.generation[slot] += 1
            # A consumer that dies at once, again and again (Redis refusing it, a broken import),
            # is restarted with growing pauses instead of forking in a tight loop.
            self._quick_deaths[slot] = self._quick_deaths[slot] + 1 if now - self._born[slot] < 5 else 0
            deaths = self._quick_deaths[slot]
            self._respawn_at[slot] = now + (0.0 if deaths <= 1 else min(2.0 ** (deaths - 2), 30.0))

    def _kill(self, pool: Pool, why: str, signals: Signals) -> None:
        logger.warning("%s: stopping %d consumer(s) now", why.capitalize(), pool.alive())
        pool.kill()
        if pool.kind == "prefork":
            deadline = time.monotonic() + 5
            while pool.alive() and time.monotonic() < deadline:
                pool.reap()
                signals.sleep(0.05)
        self.hand_back(self.all_held(), why)

    def _run_solo(self) -> None:
        consumer = self.make_consumer(0, self.prefix(0))
        stop = threading.Event()
        self.watch.main_thread = threading.main_thread().ident

        def on_signal(signum: int) -> None:
            consumer.stop()  # the signal itself wakes the supervising thread (the wake-up fd)

        def supervise() -> None:
            while not stop.is_set():
                now = time.monotonic()
                if self.shutdown.phase(signals, now) == NOW:
                    self.hand_back(self.held(0), self.shutdown.why)
                    self._forget_worker()
                    logging.shutdown()
                    os._exit(1)  # the task in the main thread cannot be interrupted otherwise
                next_duty = min(self.duties.due(now), self.watch.check(), self.giveback.check(now), self.apart.check(),
                                self._check_recorder(now))
                if self.shutdown.deadline is not None:
                    next_duty = min(next_duty, self.shutdown.deadline)
                signals.sleep(max(0.0, min(next_duty - time.monotonic(), TICK)))

        # The supervising thread sleeps on the signals' wake-up pipe, which a signal, the consumer's
        # ring (board.ring) and the end of the run write to: a write is safe from a signal handler
        # that interrupted another write, where setting a threading.Event is not (its lock).
        with handled(chld=False, warm=self.options.forwarded) as signals:
            signals.on_signal = on_signal
            self._stop_solo = consumer.stop  # asked to stop through Redis (from the supervising thread)
            self.board.ring_fd(signals.wake_fd)
            self.duties.due(time.monotonic())
            thread = threading.Thread(target=supervise, name="jobs-supervisor", daemon=True)
            thread.start()
            logger.info("%s ready.", self.options.hostname)
            try:
                consumer.run()
            finally:
                stop.set()
                self.board.ring()
                thread.join()
            self.hand_back(self.held(0), "stopped")  # fenced: only what is still in flight
