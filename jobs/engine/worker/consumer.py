"""A consumer: one slot of a worker's pool, in a child process, a thread, or the main thread (solo).

Its loop, one Redis round trip per task when busy:

    fetch (settling the previous task's ack in the same call) ─► run ─► fetch ...
        └─ nothing to do: block on the queues' wake lists (BLPOP) until work arrives

It takes a task only when it is free (plus `prefetch` more, if asked): no task waits behind a long
one in a worker that has another slot free. With prefetch, acks of short tasks are sent together
with the next fetch; once the oldest unsent ack belongs to a task that started more than ACK_DELAY
ago, pending acks are sent as soon as the current task ends.

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

import functools
import logging
import time
from collections import deque
from typing import Any

from ..backoff import Backoff
from ..broker import WAIT_SLICE, Ack, Delivery, Refused
from ..connection import RETRYABLE
from ..errors import TimeLimitExceeded
from ..message import Header, parse_handed
from ..results import FAILURE
from .board import Board
from .delivery import DeliveryHandler, Prepared, report_refused
from .limits import interrupts
from .runner import AsyncRunner

logger = logging.getLogger("jobs.worker")

#: With prefetch, a finished task's ack waits for the next fetch at most about this long (s).
ACK_DELAY = 0.05


class Consumer:
    def __init__(self, app: Any, queues: list[str], slot: int, token_prefix: str, board: Board,
                 prefetch: int, hostname: str, hard_limits_here: bool = False, worker_id: str = "",
                 async_concurrency: int = 1, interruptible: bool = False) -> None:
        self.app = app
        self.broker = app.broker.private()  # never the connection the tasks it runs use
        self.plan = self.broker.plan(queues, token_prefix, worker_id)
        self.slot = slot
        self.prefix = token_prefix
        self.board = board
        self.want = 1 + prefetch
        self.hostname = hostname
        self.executor = DeliveryHandler(app, hostname, hard_limits_here, self.broker, interruptible)
        self.interruptible = interruptible
        self.stopping = False
        self._wait_link: Any = None
        self._next_seq = 0
        self._backoff = Backoff(f"consumer {slot}")
        self._acks_retried = False
        self._registered: int | None = None  # the seq it is registered idle with (lib/deliver.lua)
        self._registered_at = 0.0  # when the fetch that registered it was sent (monotonic)
        #: Seqs a call whose reply was lost may have taken or been handed (see _fetch); handed back
        #: after the next call that works, but for any that call delivers.
        self._orphans: set[int] = set()
        self._fetch_sent = 0.0  # when the last fetch was sent (monotonic): its leases start after this
        #: A delivery whose lease was last known set longer ago than this is confirmed before it starts.
        self._fresh = app.config.lease_seconds / 2
        # --async-concurrency: async tasks run beside each other on a runner (runner.py), which
        # settles and acknowledges them itself; their seqs are on the board until it has.
        self.async_concurrency = async_concurrency
        self.runner: Any = None

    def stop(self) -> None:
        self.stopping = True
        link = self._wait_link
        if link is not None:
            link.interrupt()

    def _is_stopping(self) -> bool:
        return self.stopping

    def run(self) -> None:
        board, slot = self.board, self.slot
        board.clear(slot)
        buffer: deque[tuple[int, Delivery, float]] = deque()  # (seq, delivery, lease known set at)
        pending: list[Ack] = []
        pending_hi = 0  # seq after the last delivery whose ack is in `pending`
        pending_since = 0.0  # when the task of the oldest pending ack started
        woken = False
        while True:
            runner = self.runner
            if not buffer:
                if runner is not None and runner.in_flight and (self.stopping or
                                                                 runner.in_flight >= self.async_concurrency):
                    # Full (or stopping): send what is done, then wait for a running one to end.
                    if pending:
                        pending = self._flush(pending, pending_hi)
                    runner.wait_one(1.0)
                    continue
                if self.stopping:
                    break
                got, due_in = self._fetch(pending, woken)
                if got is None:
                    continue  # Redis failed; `pending` is kept for the next attempt
                if pending:
                    board.release(slot, pending_hi)
                    pending = []
                if not got:
                    # Registered idle: the seq a producer may hand a message to stays held.
                    board.release(slot, self._next_seq if self._registered is None else self._registered)
                    woken, handed, held_at = self._wait(due_in)
                    if handed is not None:
                        seq = self._seq_of(handed)
                        if seq < board.held(slot).start:
                            board.release(slot, seq)  # an older registration's: renewed from now on
                        buffer.append((seq, handed, held_at))
                    continue
                woken = False
                buffer.extend((self._seq_of(d), d, self._fetch_sent) for d in got)
                board.reserve(slot, max(self._seq_of(d) for d in got) + 1)
            seq, delivery, held_at = buffer.popleft()
            started = time.monotonic()
            try:
                if started - held_at > self._fresh and not self._still_held(delivery, buffer):
                    ack = None  # another worker has it now: not ours to run or to settle
                elif self.async_concurrency > 1:
                    prepared = self.executor.prepare(delivery)
                    if isinstance(prepared, Prepared) and prepared.is_async:
                        self._start_async(seq, prepared)  # the runner settles and acknowledges it
                        ack = None
                    elif isinstance(prepared, Prepared):
                        ack = self.executor.run(prepared, functools.partial(self._started, seq))
                    else:
                        ack = prepared
                else:
                    ack = self.executor.handle(delivery, functools.partial(self._started, seq))
            except RETRYABLE as exc:
                # Only the steps before the task runs talk to Redis (early ack, STARTED, defer,
                # dead letters), so trying the delivery again later is safe.
                board.finish(slot)
                buffer.appendleft((seq, delivery, held_at))
                self._backoff.failed(exc, self._is_stopping)
                if self.stopping:
                    break  # what is still held goes back by the supervisor or when its lease runs out
                continue
            except Exception as exc:  # a bug of ours, not of the task: never loop on it
                logger.exception("could not handle delivery %s", delivery.token)
                ack = None
                self._bury_quietly(delivery, f"internal error in the worker: {type(exc).__name__}: {exc}")
            board.finish(slot)
            if ack is not None:
                if not pending:
                    pending_since = started
                pending.append(ack)
            elif not pending:
                board.release(slot, seq + 1)  # settled (or handed on) already, or on the runner
            pending_hi = seq + 1
            if pending and buffer and (self.stopping or time.monotonic() - pending_since > ACK_DELAY):
                pending = self._flush(pending, pending_hi)
            if self.stopping and buffer:
                pending = self._flush(pending, pending_hi)
                self._hand_back(buffer)
                buffer.clear()
        if self._registered is not None:
            self._deregister(pending)
        else:
            self._flush(pending, pending_hi)

    def _started(self, seq: int, task_id: str, soft: float | None, hard: float | None) -> Any:
        """Its task starts: on the board for the supervisor, and armed for its exceptions. Returns
        what execute() calls as the task's function ends."""
        self.board.start(self.slot, seq, task_id, soft, hard)
        if self.interruptible:
            interrupts.arm(seq)
        return functools.partial(self.board.returned, self.slot)

    def _start_async(self, seq: int, prepared: Prepared) -> None:
        if self.runner is None:
            self.runner = AsyncRunner(self.async_concurrency, self.board, self.slot, self._fail_stuck)
        while self.runner.in_flight >= self.async_concurrency:  # prefetched beyond what may run at once
            self.runner.wait_one(1.0)
        self.runner.submit(seq, prepared.token, prepared.message.task, prepared.message.id, prepared.hard,
                           functools.partial(self.executor.run_async, prepared))

    def _fail_stuck(self, token: str, why: str) -> Any:
        # The runner's watchdog thread: its own connection, not the consumer's.
        return DeliveryHandler(self.app, self.hostname).end_held(token, FAILURE, TimeLimitExceeded(why), why)

    def _seq_of(self, delivery: Delivery) -> int:
        return int(delivery.token[len(self.prefix):])

    def _deregister(self, pending: list[Ack]) -> None:
        """Stop being idle-registered (with the last acks): a message a producer handed over just
        now goes back to its queue. If Redis cannot be reached, the supervisor hands back what the
        board still holds, or the lease runs out."""
        try:
            fetched = self.broker.fetch(self.plan, 0, self._next_seq, False, pending,
                                        registered_seq=self._registered, register=False)
        except RETRYABLE:
            return
        self._registered = None
        self._refused(fetched.refused, pending)
        self._orphans.update(self._seq_of(d) for d in fetched.deliveries)
        self._hand_back_orphans(())

    def _fetch(self, pending: list[Ack], woken: bool) -> tuple[list[Delivery] | None, float | None]:
        first = self._next_seq
        self._next_seq += self.want  # seqs are never reused, even if the call fails
        self.board.reserve(self.slot, self._next_seq)
        self._fetch_sent = time.monotonic()
        register = not self.stopping
        try:
            # Spin for the reply only when idle work just arrived (latency counts); a busy consumer
            # sleeps in recv and leaves the CPU to Redis and its siblings.
            fetched = self.broker.fetch(self.plan, self.want, first, woken, pending, spin=woken,
                                        registered_seq=self._registered, register=register)
        except RETRYABLE as exc:
            # The call may have run in Redis and only its reply been lost. Then it took messages
            # (leased to seqs first...), or registered this consumer idle under `first`, where a
            # producer may hand it a message; and a message handed over for an earlier
            # registration may have been taken from the inbox. Assume all of it: registered (the
            # next fetch unregisters, or returns what was handed over), and those seqs orphaned
            # (handed back to their queues after the next call that works).
            self._orphans.update(range(first, first + self.want))
            if self._registered is not None:
                self._orphans.add(self._registered)
            self._registered = first if register else None
            self._registered_at = self._fetch_sent
            if pending:
                self._acks_retried = True
            self._backoff.failed(exc, self._is_stopping)
            return None, None
        self._registered = first if fetched.registered else None
        self._registered_at = self._fetch_sent
        if self._orphans:
            self._hand_back_orphans(fetched.deliveries)
        self._backoff.ok()
        self._refused(fetched.refused, pending)
        for task_id, task_name, reason in fetched.revoked:
            logger.warning("Task %s[%s] %s; not run", task_name, task_id,
                           "was revoked" if reason == "revoked" else reason)
            self.app.hooks.emit("task_revoked", task_id=task_id, task_name=task_name,
                                reason="revoked" if reason == "revoked" else "expired", terminated=False)
        return fetched.deliveries, fetched.next_due

    def _wait(self, due_in: float | None = None) -> tuple[bool, Delivery | None, float]:
        """Block until woken, handed a message, or the next scheduled message is due (then fetch
        promotes it). Returns (woken by a wake token, the message handed over or None, and when
        its lease was known to be set: 0 if it must be confirmed before it runs)."""
        link = self.broker.wait_link()
        self._wait_link = link
        registered = self._registered is not None
        try:
            link.connect()  # so that stop() has a socket to shut, even before the first wait
            if self.stopping:
                return False, None, 0.0
            popped = self.broker.wait(self.plan, WAIT_SLICE if due_in is None else due_in, registered)
            if popped is None:
                return False, None, 0.0
            key, element = popped
            if registered and key.decode() == self.plan.inbox:
                # Handed over by a producer, leased to us under the seq in the entry: the one we
                # registered with, or (after a lost reply) an earlier registration's, whose lease
                # is confirmed before it runs.
                seq, queue, wire = parse_handed(element)
                fresh = seq == self._registered
                self._registered = None
                delivery = Delivery(f"{self.prefix}{seq}", queue, wire)
                return False, delivery, self._registered_at if fresh else 0.0
            if self.stopping:
                self.broker.rewake(key)  # another idle worker may act on it
                return False, None, 0.0
            return True, None, 0.0
        except RETRYABLE as exc:
            if registered:  # the reply lost may have carried a message handed over: see _fetch
                self._orphans.add(self._registered or 0)
            if not self.stopping:
                self._backoff.failed(exc, self._is_stopping)
            return False, None, 0.0
        finally:
            self._wait_link = None

    def _hand_back_orphans(self, delivered: list[Delivery] | tuple[()]) -> None:
        """Hand back to their queues the messages a call whose reply was lost may have leased to
        this consumer (but for those a later call delivered after all): at once, instead of when
        their leases run out, and not counted as lost deliveries. Idempotent: only tokens still in
        flight move."""
        seqs = self._orphans - {self._seq_of(d) for d in delivered}
        self._orphans = set()
        if not seqs:
            return
        try:
            count = self.broker.requeue([f"{self.prefix}{seq}" for seq in sorted(seqs)], forget=False)
        except RETRYABLE:
            self._orphans = seqs  # next time; meanwhile their leases bound the wait
            return
        if count:
            logger.warning("%d message(s) taken by a call whose reply was lost went back to their queues", count)

    def _flush(self, pending: list[Ack], hi: int) -> list[Ack]:
        """Send pending acks now; kept for the next attempt while Redis fails."""
        while pending:
            try:
                self._refused(self.broker.ack(pending), pending)
                self._backoff.ok()
                break
            except RETRYABLE as exc:
                self._acks_retried = True
                if self.stopping and self._backoff.pause >= 10.0:
                    logger.error("giving up on %d acks; their tasks will run again when their leases "
                                 "run out", len(pending))
                    break
                self._backoff.failed(exc)
        self.board.release(self.slot, hi)
        return []

    def _still_held(self, delivery: Delivery, buffer: deque[tuple[int, Delivery, float]]) -> bool:
        """Ask Redis whether this delivery (and what waits behind it) still holds its lease, and
        renew those that do. The ones that do not are dropped: their leases ran out while this
        consumer could not renew them (frozen, or cut off from Redis), and another worker has, or
        will have, run them."""
        waiting = list(buffer)
        lost = self.broker.confirm([delivery.token, *(d.token for _, d, _ in waiting)])
        now = time.monotonic()
        buffer.clear()
        buffer.extend((seq, d, now) for seq, d, _ in waiting if d.token not in lost)
        for d in (delivery, *(d for _, d, _ in waiting)):
            if d.token in lost:
                logger.warning("Delivery %s (%s) lost its lease while it waited in this worker (it was frozen or "
                               "cut off from Redis); another worker has it, so it is not run here", d.token,
                               Header.describe(d.wire))
        return delivery.token not in lost

    def _hand_back(self, buffer: deque[tuple[int, Delivery, float]]) -> None:
        tokens = [d.token for _, d, _ in buffer]
        try:
            self.broker.requeue(tokens)
        except RETRYABLE:
            logger.warning("could not hand back %d unstarted tasks; they return when their leases "
                           "run out", len(tokens))

    def _bury_quietly(self, delivery: Delivery, reason: str) -> None:
        try:
            self.executor.bury(delivery, reason)
        except RETRYABLE:
            logger.error("could not move delivery %s to the dead letters; it returns when its lease "
                         "runs out", delivery.token)

    def _refused(self, refused: list[Refused], acks: list[Ack]) -> None:
        retried, self._acks_retried = self._acks_retried, False
        if refused:
            report_refused(refused, acks, retried)
