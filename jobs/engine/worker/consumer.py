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

Acks wait in `pending` for the next fetch, which carries them, but only behind tasks known to be
short: they are sent before the next task starts, in one call on a connection of their own without
waiting for the reply (read at the next fetch), once the oldest one's task started ACK_DELAY ago,
or when the next task's name did not run under ACK_DELAY last time (a long task, or one never seen,
which may be the one that kills its process). A consumer that dies (a segfault, the OOM killer, a
hard time limit) thus runs again, besides the task it ran, only tasks it finished in the last
ACK_DELAY while running short ones. Sending each ack as its task
ends would close that window, and cost ~30 % of the drain rate of short tasks on 2 CPUs: every
write wakes Redis, and the consumer and Redis then take turns on the CPUs once a task.

stop() may be called from a signal handler or another thread: it sets a flag and, if the consumer is
blocked waiting for work, shuts that socket so the wait ends now. A running task is never
interrupted by stop(); what was fetched but not started is handed back to its queue.

A delivery is started only while its lease is known to be held: one that waited in the buffer
(prefetch, or a hand-off) for more than half a lease since its lease was last known to be set is
confirmed with Redis first (one round trip, which renews it). A worker that froze (SIGSTOP, a long
GC pause, a host paused) past its leases therefore does not run again what another worker has run
since: it drops those deliveries instead.

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
from dataclasses import dataclass

from ..errors import TimeLimitExceeded
from ..execution.limits import interrupts
from ..redis.backoff import Backoff
from ..redis.connection import RETRYABLE, fails_on_message
from ..redis.deliveries import Ack, Delivery, Refused
from ..redis.tally import TALLY
from ..setup.app import App
from ..wire.header import Header
from ..wire.outcome import FAILURE
from .board import Board
from .delivery import DeliveryHandler, Prepared, report_refused
from .ended import EndedRuns
from .intake import Intake
from .runner import AsyncRunner

logger = logging.getLogger("jobs.worker")

#: A finished task's ack waits for the next fetch at most about this long from its task's start (s):
#: all a consumer's death can make run twice, besides the task it ran.
ACK_DELAY = 0.005
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


@dataclass(slots=True)
class Buffered:
    """A delivery taken but not started yet."""

    seq: int
    delivery: Delivery
    held_at: float  # when its lease was last known to be set (monotonic)


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
        self.pending: list[Ack] = []
        #: Acks sent through `acker`, a connection of their own, whose replies are not read yet: one
        #: list per call.
        self.owed: list[list[Ack]] = []
        self.acker = self.broker.private()
        self._ack_loaded = False  # ack.lua loaded on the acker's Redis (a NOSCRIPT reply resets it)
        self.pending_hi = 0  # seq after the last delivery whose ack is in `pending` or `owed`
        self.pending_since = 0.0  # when the task of the oldest pending ack started
        self.woken = False
        self._ring = False  # a batch was taken: ring the supervisor at its first claim (board.ring)
        #: Task names (from the wire's header) whose last run took under ACK_DELAY: acks wait behind them.
        self._short: dict[bytes, bool] = {}
        self._acks_retried = False
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
        if self.pending and self.buffer and (self.stopping or now - self.pending_since > ACK_DELAY):
            if self.stopping or not self._send():
                self._flush()
        if self.stopping and self.buffer:
            self._hand_back_buffer()
        if self.buffer:
            self._run_next(now)
            return True
        runner = self.runner
        if runner is not None and runner.in_flight and (self.stopping or runner.in_flight >= self.async_concurrency):
            # Full (or stopping): send what is done, then wait for a running one to end.
            self._flush()
            runner.wait_one(1.0)
            return True
        if self.stopping:
            return False
        self._take(now)
        return True

    def finish(self) -> None:
        """The loop ended: settle the last acks (and stop being registered idle)."""
        self._settle_owed()
        if self.intake.registered is not None:
            fetched = self.intake.deregister(self.pending)
            if fetched is not None:
                self._report(fetched.refused)
        else:
            self._flush()

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

    def _take(self, now: float) -> None:
        self._settle_owed()
        self.intake.want = self._want()
        try:
            taken = self.intake.fetch(self.pending, self.woken, self.stopping, now)
        except RETRYABLE as exc:
            if self.pending:
                self._acks_retried = True
            self.backoff.failed(exc, self._is_stopping)
            return  # `pending` is kept for the next attempt
        self.backoff.ok()
        fetched = taken.fetched
        self._report(fetched.refused)
        if self.pending:
            self.board.release(self.slot, self.pending_hi)
            self.pending = []
        for task_id, task_name, reason, queue in fetched.revoked:
            TALLY.revoked(task_name, queue)  # {p}:stats has it from fetch.lua; the minute and hour from here
            logger.warning("Task %s[%s] %s; not run", task_name, task_id,
                           "was revoked" if reason == "revoked" else reason)
            self.app.hooks.emit("task_revoked", task_id=task_id, task_name=task_name,
                                reason="revoked" if reason == "revoked" else "expired", terminated=False)
        if not fetched.deliveries:
            self.intake.release_idle()
            self._flush_counts()  # before it sleeps: the metrics do not wait for its next task
            self.woken, handed = self.intake.wait(fetched.next_due, self._is_stopping)
            if handed is not None:
                seq = self.intake.seq_of(handed.delivery)
                self.buffer.append(Buffered(seq, handed.delivery, handed.held_at))
                self.board.buffered(self.slot, seq + 1)
            return
        self.woken = False
        self._ring = len(fetched.deliveries) > 1
        self.buffer.extend(Buffered(self.intake.seq_of(d), d, taken.sent_at) for d in fetched.deliveries)
        end = max(b.seq for b in self.buffer) + 1
        self.board.reserve(self.slot, end)
        self.board.buffered(self.slot, end)

    # -- running ---------------------------------------------------------------------------

    def _run_next(self, now: float) -> None:
        item = self.buffer.popleft()
        if not self.board.claim(self.slot, item.seq, now):
            self._taken_back()
            return
        if self._ring and self.buffer:
            self.board.ring()
            self._ring = False
        name = item.delivery.wire[:300].split(b"|", 4)[3:4]
        short = self._short.get(name[0], False) if name else False
        if self.pending and not short:
            self._send()  # so that it never waits behind a long task, nor dies with it
        began = time.monotonic()
        ack = self._handle(item, now)
        if ack is AGAIN:
            return
        self.board.finish(self.slot)
        self.board.unclaim(self.slot)
        took = time.monotonic() - began
        self.pace += (took - self.pace) * PACE_WEIGHT
        if name and short != (took < ACK_DELAY):
            if len(self._short) > 10_000:  # names are the registry's; this only bounds garbage
                self._short.clear()
            self._short[name[0]] = took < ACK_DELAY
        if ack is not None:
            if not self.pending:
                self.pending_since = now
            self.pending.append(ack)
        elif not self.pending and not self.owed:
            self.board.release(self.slot, item.seq + 1)  # settled (or handed on) already, or on the runner
        self.pending_hi = item.seq + 1

    def _handle(self, item: Buffered, now: float) -> Ack | None | Again:
        """Run one delivery: its Ack, None if it ended otherwise, AGAIN if Redis failed before the
        task ran (put back in front, tried again after a pause)."""
        try:
            if now - item.held_at > self.fresh and not self._still_held(item.delivery, now):
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
        if not self.pending and not self.owed:
            self.board.release(self.slot, taken)
        self.pending_hi = taken

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

    def _flush_counts(self) -> None:
        try:
            self.broker.deliveries.flush_counts()
        except RETRYABLE:
            pass  # lost with the call (metrics.Tally: never counted twice); the loop deals with Redis

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

    def _still_held(self, delivery: Delivery, now: float) -> bool:
        """Ask Redis whether this delivery (and what waits behind it) still holds its lease, and
        renew those that do. The ones that do not are dropped: their leases ran out while this
        consumer could not renew them (frozen, or cut off from Redis), and another worker has, or
        will have, run them."""
        waiting = list(self.buffer)
        lost = self.broker.leases.confirm([delivery.token, *(b.delivery.token for b in waiting)])
        self.buffer = deque(Buffered(b.seq, b.delivery, now) for b in waiting if b.delivery.token not in lost)
        for d in (delivery, *(b.delivery for b in waiting)):
            if d.token in lost:
                logger.warning("Delivery %s (%s) lost its lease while it waited in this worker (it was frozen or "
                               "cut off from Redis); another worker has it, so it is not run here", d.token,
                               Header.describe(d.wire))
        return delivery.token not in lost

    # -- settling ----------------------------------------------------------------------------

    def _send(self) -> bool:
        """Send the pending acks now without waiting for the reply; False if Redis failed (then
        they stay pending)."""
        try:
            if not self._ack_loaded:
                self.acker.deliveries.load_ack()
                self._ack_loaded = True
            self.acker.deliveries.send_ack(self.pending)
        except RETRYABLE:
            return False
        self.owed.append(self.pending)
        self.pending = []
        return True

    def _settle_owed(self) -> None:
        """Read the replies to the acks sent on their own. If the connection broke first, whether
        they were applied is unknown: they go again with the next fetch (a second ack of a settled
        delivery is refused, and said to be harmless, see report_refused)."""
        if not self.owed:
            return
        owed, self.owed = self.owed, []
        refused: list[Refused] = []
        for i, acks in enumerate(owed):
            try:
                reply = self.acker.deliveries.ack_reply()
            except RETRYABLE:
                self.pending += [ack for sent in owed[i:] for ack in sent]
                self._acks_retried = True
                break
            if reply is None:  # Redis lost its scripts (a restart): it did not run
                self.pending += acks
                self._ack_loaded = False
            else:
                refused += reply
        if refused:
            report_refused(refused, [ack for sent in owed for ack in sent], False)
        if not self.pending:
            self.board.release(self.slot, self.pending_hi)

    def _flush(self) -> None:
        """Send pending acks now; kept for the next attempt while Redis fails."""
        self._settle_owed()
        while self.pending:
            try:
                self._report(self.broker.deliveries.ack(self.pending))
                self.backoff.ok()
                break
            except RETRYABLE as exc:
                self._acks_retried = True
                if self.stopping and self.backoff.pause >= 10.0:
                    logger.error("giving up on %d acks; their tasks will run again when their leases "
                                 "run out", len(self.pending))
                    break
                self.backoff.failed(exc)
        self.pending = []
        self.board.release(self.slot, self.pending_hi)

    def _report(self, refused: list[Refused]) -> None:
        retried, self._acks_retried = self._acks_retried, False
        if refused:
            report_refused(refused, self.pending, retried)

    def _hand_back_buffer(self) -> None:
        """Stopping: what was taken but not started goes back to its queue now."""
        tokens = [b.delivery.token for b in self.buffer]
        self.buffer.clear()
        try:
            self.broker.leases.requeue(tokens)
        except RETRYABLE:
            logger.warning("could not hand back %d unstarted tasks; they return when their leases "
                           "run out", len(tokens))

    def _bury_quietly(self, delivery: Delivery, reason: str) -> None:
        try:
            self.handler.bury(delivery, reason)
        except RETRYABLE:
            logger.error("could not move delivery %s to the dead letters; it returns when its lease "
                         "runs out", delivery.token)
