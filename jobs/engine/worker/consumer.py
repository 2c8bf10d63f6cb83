"""A consumer: one slot of a worker's pool, in a child process, a thread, or the main thread (solo).

Its loop, one Redis round trip per batch when busy:

    fetch a batch (settling the previous batch's acks in the same call) ─► run each ─► fetch ...
        └─ nothing to do: block on the queues' wake lists (BLPOP) until work arrives (intake.py)

The loop is step(now), one step at a time (a fetch or a wait, or one delivery run), with the clock
passed in, so tests drive it in-process on a clock of their own.

It takes a batch sized to its recent tasks' pace: as many as would run in about BATCH_SECONDS, at
most 1 + `prefetch` (WORKER_PREFETCH), so short tasks cost a fraction of a round trip each and a
slow one is fetched alone. No task waits behind a long one while another slot is free: before it
starts each buffered delivery the consumer claims it on the board, and once a claimed task has run
WORKER_GIVE_BACK_AFTER the supervisor takes back what waits behind it and hands it to its queue
(giveback.py); a delivery is either claimed or taken back, never both.

Acks wait for the next fetch, which carries them, but only behind tasks known to be short, and at
most about ACK_DELAY: acks.py says why and keeps them; this loop reads and writes their state inline.

stop() may be called from a signal handler or another thread: it sets a flag and, if the consumer is
blocked waiting for work, shuts that socket so the wait ends now. A running task is never
interrupted by stop(); what was fetched but not started is handed back to its queue
(intake.hand_back).

A delivery is started only while its lease is known to be held: one that waited in the buffer
(prefetch, or a hand-off) for more than half a lease since its lease was last known to be set is
confirmed with Redis first (intake.confirm: one round trip, which renews it). A worker that froze
(SIGSTOP, a long GC pause, a host paused) past its leases therefore does not run again what another
worker has run since: it drops those deliveries instead.

Whatever goes wrong, a delivery ends settled, handed back, or in the dead letters; the board's
held range [lo, hi) never keeps a token the consumer has let go of, or the supervisor would renew
its lease forever.
"""

from __future__ import annotations

import enum
import functools
import logging
import time
from collections import deque
from collections.abc import Callable

from ..errors import TimeLimitExceeded
from ..execution.limits import interrupts
from ..redis.backoff import Backoff
from ..redis.connection import RETRYABLE, fails_on_message
from ..redis.deliveries import Ack, Delivery
from ..redis.tally import TALLY
from ..send.forwarder import forward
from ..setup.app import App
from ..wire.outcome import FAILURE
from .acks import ACK_DELAY, Acks
from .board import Board
from .delivery import DeliveryHandler, Prepared
from .ended import EndedRuns
from .intake import Buffered, Intake
from .runner import AsyncRunner

logger = logging.getLogger("jobs.worker")

#: A batch is sized to last about this long at the pace of the recent tasks (s): far below
#: WORKER_GIVE_BACK_AFTER, so a batch of tasks as short as the last ones is rarely given back.
BATCH_SECONDS = 0.01
#: The weight of the last task in the pace (an exponential moving average of run times): after
#: one long task the batches shrink at once, and grow back over a few tens of short ones.
PACE_WEIGHT = 0.2


class Again(enum.Enum):
    """Consumer._handle: the delivery went back in front of the buffer, to be tried again."""

    AGAIN = "again"


AGAIN = Again.AGAIN


class Consumer:
    def __init__(self, app: App, queues: list[str], slot: int, token_prefix: str, board: Board,
                 prefetch: int, hostname: str, hard_limits_here: bool = False, worker_id: str = "",
                 async_concurrency: int = 1, interruptible: bool = False) -> None:
        self.app = app
        self.broker = app.broker.private()  # never the connection the tasks it runs use
        self.slot = slot
        self.board = board
        self.hostname = hostname
        if worker_id:
            TALLY.worker = worker_id  # this process's outcomes count as that worker's (keys.worker_counts)
        self.handler = DeliveryHandler(app, hostname, hard_limits_here, self.broker, interruptible)
        self.interruptible = interruptible
        self.stopping = False
        self.backoff = Backoff(f"consumer {slot}")
        self.prefetch = prefetch
        #: Recent run time per task (s), from which the next batch is sized. It starts at 0: a new
        #: worker on a backlog takes full batches at once; if its first task runs long, what it
        #: took with it goes back (giveback.py), and the batches shrink.
        self.pace = 0.0
        self.intake = Intake(app, self.broker, queues, slot, token_prefix, board, 1, worker_id, self.backoff)
        #: A delivery whose lease was last known set longer ago than this is confirmed before it starts.
        self.fresh = app.config.lease_seconds / 2
        # --async-concurrency: async tasks run beside each other on a runner (runner.py), which
        # settles and acknowledges them itself; their seqs are on the board until it has.
        self.async_concurrency = async_concurrency
        self.runner: AsyncRunner | None = None
        # The loop's state, between steps.
        self.buffer: deque[Buffered] = deque()
        self.acks = Acks(self.broker, board, slot, self.backoff)
        #: With several shards: the name of this shard's forward set, which an ack's `extra` names when
        #: it hands a message to another shard (redis/forwards.py); the acks send it on once settled.
        self._forward_key = app.keys.forward if app.config.shards > 1 else None
        if self._forward_key is not None:
            self.acks.on_forward = functools.partial(forward, app)
        self._ring = False  # a batch was taken: ring the supervisor at its first claim (board.ring)
        self._abandoned = False

    def stop(self) -> None:
        self.stopping = True
        link = self.intake.wait_link
        if link is not None:
            link.interrupt()

    def _is_stopping(self) -> bool:
        return self.stopping

    def run(self) -> None:
        self.board.clear(self.slot)
        while self.step(time.monotonic()):
            pass
        self.finish()

    def step(self, now: float) -> bool:
        """One step at `now` (time.monotonic()): send acks that waited long enough; then run one
        buffered delivery, or take work (fetch, or wait for it). False once it has stopped."""
        if self._abandoned:
            return False
        acks = self.acks
        if acks.pending and self.buffer and (self.stopping or now - acks.since > ACK_DELAY):
            if self.stopping or not acks.send():
                acks.flush(self.stopping)
        if self.stopping and self.buffer:
            self.intake.hand_back(self.buffer)
        if self.buffer:
            self._run_next(now)
            return True
        runner = self.runner
        if runner is not None and runner.in_flight and (self.stopping or runner.in_flight >= self.async_concurrency):
            # Full (or stopping): send what is done, then wait for a running one to end.
            acks.flush(self.stopping)
            runner.wait_one(1.0)
            return True
        if self.stopping:
            return False
        taken = self.intake.take(self._want(), acks, self.buffer, self._is_stopping, now)
        if taken:
            self._ring = taken > 1
        return True

    def finish(self) -> None:
        """The loop ended: settle the last acks (and stop being registered idle)."""
        self.acks.settle_owed()
        if self.intake.registered is not None:
            fetched = self.intake.deregister(self.acks.pending)
            if fetched is not None:
                self.acks.report(fetched.refused)
        else:
            self.acks.flush(self.stopping)

    # -- taking work -------------------------------------------------------------------------

    def _want(self) -> int:
        """How many to take: at most 1 + prefetch; as many as run in BATCH_SECONDS at the recent
        pace, or, for an async runner, as many as it can start now."""
        if not self.prefetch:
            return 1
        if self.async_concurrency > 1:
            free = self.async_concurrency - (self.runner.in_flight if self.runner is not None else 0)
            return 1 + max(0, min(self.prefetch, free - 1))
        return 1 + min(self.prefetch, int(BATCH_SECONDS / max(self.pace, 1e-6)))

    # -- running ---------------------------------------------------------------------------

    def _run_next(self, now: float) -> None:
        item = self.buffer.popleft()
        if not self.board.claim(self.slot, item.seq, now):
            self._taken_back()
            return
        if self._ring and self.buffer:
            self.board.ring()
            self._ring = False
        acks = self.acks
        name = item.delivery.wire[:300].split(b"|", 4)[3:4]
        short = acks.short.get(name[0], False) if name else False
        if acks.pending and not short:
            acks.send()  # so that it never waits behind a long task, nor dies with it
        began = time.monotonic()
        ack = self._handle(item, now)
        if ack is AGAIN:
            return
        self.board.finish(self.slot)
        self.board.unclaim(self.slot)
        took = time.monotonic() - began
        self.pace += (took - self.pace) * PACE_WEIGHT
        if name and short != (took < ACK_DELAY):
            if len(acks.short) > 10_000:  # names are the registry's; this only bounds garbage
                acks.short.clear()
            acks.short[name[0]] = took < ACK_DELAY
        if ack is not None:
            if not acks.pending:
                acks.since = now
            acks.pending.append(ack)
            if self._forward_key is not None and ack.extra and self._forward_key in ack.extra:
                acks.forwards = True
        elif not acks.pending and not acks.owed:
            self.board.release(self.slot, item.seq + 1)  # settled (or handed on) already, or on the runner
        acks.hi = item.seq + 1

    def _handle(self, item: Buffered, now: float) -> Ack | None | Again:
        """Run one delivery: its Ack, None if it ended otherwise, AGAIN if Redis failed before the
        task ran (put back in front, tried again after a pause)."""
        try:
            if now - item.held_at > self.fresh and not self.intake.confirm(item.delivery, self.buffer, now):
                return None  # another worker has it now: not ours to run or to settle
            return self._run(item.seq, item.delivery)
        except RETRYABLE as exc:
            if not fails_on_message(exc):
                # Only the steps before the task runs talk to Redis (early ack, STARTED, rate, defer,
                # dead letters), so trying the delivery again later is safe.
                self.board.finish(self.slot)
                self.board.unclaim(self.slot)
                self.buffer.appendleft(item)
                self.backoff.failed(exc, self._is_stopping)
                self._abandoned = self.stopping  # what it holds goes back by the supervisor, or its lease
                return AGAIN
            # A script failed on this message (connection.fails_on_message): tried again it would
            # fail again, and hold up the queue behind it.
            self._bury_quietly(item.delivery, f"a Redis script failed on this message: {exc}")
        except Exception as exc:  # a bug of ours, not of the task: never loop on it
            logger.exception("could not handle delivery %s", item.delivery.token)
            self._bury_quietly(item.delivery, f"internal error in the worker: {type(exc).__name__}: {exc}")
        return None

    def _taken_back(self) -> None:
        """The supervisor took back what waited behind the last task (giveback.py), and hands it
        back to its queue: not ours to run, settle or keep holding."""
        taken = self.board.taken(self.slot)
        while self.buffer and self.buffer[0].seq < taken:
            self.buffer.popleft()
        acks = self.acks
        if not acks.pending and not acks.owed:
            self.board.release(self.slot, taken)
        acks.hi = taken

    def _run(self, seq: int, delivery: Delivery) -> Ack | None:
        started = functools.partial(self._started, seq)
        if self.async_concurrency <= 1:
            return self.handler.handle(delivery, started)
        prepared = self.handler.prepare(delivery)
        if not isinstance(prepared, Prepared):
            return prepared
        if prepared.is_async:
            self._start_async(seq, prepared)  # the runner settles and acknowledges it
            return None
        return self.handler.run(prepared, started)

    def _started(self, seq: int, task_id: str, soft: float | None, hard: float | None) -> Callable[[], None] | None:
        """Its task starts: on the board for the supervisor, and armed for its exceptions. Returns
        what execute() calls as the task's function ends: with a hard limit, the board says so."""
        self.board.start(self.slot, seq, task_id, soft, hard)
        if self.interruptible:
            interrupts.arm(seq)
        return functools.partial(self.board.returned, self.slot) if hard else None

    def _start_async(self, seq: int, prepared: Prepared) -> None:
        if self.runner is None:
            self.runner = AsyncRunner(self.async_concurrency, self.board, self.slot, self._fail_stuck)
        while self.runner.in_flight >= self.async_concurrency:  # prefetched beyond what may run at once
            self.runner.wait_one(1.0)
        self.runner.submit(seq, prepared.token, prepared.message.task, prepared.message.id, prepared.hard,
                           functools.partial(self.handler.run_async, prepared))

    def _fail_stuck(self, token: str, why: str) -> bool:
        # The runner's watchdog thread: its own connection, not the consumer's.
        return EndedRuns(self.app, self.hostname).settle(token, FAILURE, TimeLimitExceeded(why), why)

    def _bury_quietly(self, delivery: Delivery, reason: str) -> None:
        try:
            self.handler.bury(delivery, reason)
        except RETRYABLE:
            logger.error("could not move delivery %s to the dead letters; it returns when its lease "
                         "runs out", delivery.token)
