"""How a consumer takes work: its fetch (which also settles its acks), and, when there is none, its
wait, registered idle so that a producer can hand it the next message directly (lib/deliver.lua).
What it takes goes into the consumer's buffer (consumer.py), one Buffered each, until it starts.

Every call here may run in Redis and lose its reply. The rules that keep that safe:
- a failed fetch is assumed to have done all it could: taken messages (leased to its seqs), or
  registered this consumer idle (a producer may hand it a message under that seq). The next fetch
  unregisters, or returns what was handed over; the seqs the lost call may have used are handed back
  to their queues after the next call that works (not counted as lost deliveries), but for any
  that call delivered;
- each message handed over carries its seq (its token), so one that arrives late is settled under
  the right token; one not for the registration the consumer waits with is confirmed before it runs.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..redis.backoff import Backoff
from ..redis.broker import Broker
from ..redis.connection import RETRYABLE, Link
from ..redis.deliveries import WAIT_SLICE, Ack, Delivery, Fetched, FetchPlan
from ..redis.tally import TALLY
from ..setup.app import App
from ..wire.header import Header, parse_handed
from .acks import Acks
from .board import Board

logger = logging.getLogger("jobs.worker")


@dataclass(slots=True)
class Buffered:
    """A delivery taken but not started yet."""

    seq: int
    delivery: Delivery
    held_at: float  # when its lease was last known to be set (monotonic)


@dataclass(frozen=True, slots=True)
class Taken:
    """What a fetch brought: deliveries (and when their leases were set), or none and when the next
    scheduled message is due."""

    fetched: Fetched
    sent_at: float  # monotonic, just before the call: their leases were set after this


@dataclass(frozen=True, slots=True)
class Handed:
    """A message a producer handed over while the consumer waited."""

    delivery: Delivery
    held_at: float  # when its lease was known to be set (0: confirm it before it runs)


class Intake:
    def __init__(self, app: App, broker: Broker, queues: list[str], slot: int, prefix: str, board: Board,
                 want: int, worker_id: str, backoff: Backoff) -> None:
        self.app = app
        self.broker = broker
        self.plan: FetchPlan = broker.deliveries.plan(queues, prefix, worker_id)
        self.slot = slot
        self.prefix = prefix
        self.board = board
        self.want = want
        self.backoff = backoff
        self.next_seq = 0
        self.registered: int | None = None  # the seq it is registered idle with (lib/deliver.lua)
        self._registered_at = 0.0
        #: Seqs a call whose reply was lost may have taken or been handed (see the module docstring).
        self._orphans: set[int] = set()
        self.wait_link: Link | None = None  # while blocked: stop() shuts it
        self.woken = False  # the last wait ended on a wake token: spin for the next fetch's reply
        #: The last take ended in a wait: the next fetch is likely to find nothing and wait again, so it
        #: carries the metrics' counts, which flush_counts would otherwise send in a round trip of their
        #: own before that wait (a consumer under light load: one round trip per task, not two).
        self.idle = False

    def seq_of(self, delivery: Delivery) -> int:
        return int(delivery.token[len(self.prefix):])

    def take(self, want: int, acks: Acks, buffer: deque[Buffered], stopping: Callable[[], bool], now: float) -> int:
        """Take up to `want` deliveries into `buffer` (the fetch carries the pending acks), or,
        when there are none, wait for work. How many the fetch took (0 if it failed, took none or
        waited: a delivery handed over in the wait is in `buffer` all the same)."""
        acks.settle_owed()
        self.want = want
        try:
            taken = self.fetch(acks.pending, self.woken, stopping(), now)
        except RETRYABLE as exc:
            if acks.pending:
                acks.retried = True
            self.backoff.failed(exc, stopping)
            return 0  # `pending` is kept for the next attempt
        self.backoff.ok()
        fetched = taken.fetched
        acks.report(fetched.refused)
        acks.carried()
        for task_id, task_name, reason, queue in fetched.revoked:
            TALLY.revoked(task_name, queue)  # {p}:stats has it from fetch.lua; the minute and hour from here
            logger.warning("Task %s[%s] %s; not run", task_name, task_id,
                           "was revoked" if reason == "revoked" else reason)
            self.app.hooks.emit("task_revoked", task_id=task_id, task_name=task_name,
                                reason="revoked" if reason == "revoked" else "expired", terminated=False)
        if not fetched.deliveries:
            self.release_idle()
            self._flush_counts()  # before it sleeps: the metrics do not wait for its next task
            self.idle = True
            self.woken, handed = self.wait(fetched.next_due, stopping)
            if handed is not None:
                seq = self.seq_of(handed.delivery)
                buffer.append(Buffered(seq, handed.delivery, handed.held_at))
                self.board.buffered(self.slot, seq + 1)
            return 0
        self.woken = self.idle = False
        buffer.extend(Buffered(self.seq_of(d), d, taken.sent_at) for d in fetched.deliveries)
        end = max(b.seq for b in buffer) + 1
        self.board.reserve(self.slot, end)
        self.board.buffered(self.slot, end)
        return len(fetched.deliveries)

    def _flush_counts(self) -> None:
        try:
            self.broker.deliveries.flush_counts()
        except RETRYABLE:
            pass  # lost with the call (metrics.Tally: never counted twice); the loop deals with Redis

    def fetch(self, pending: list[Ack], woken: bool, stopping: bool, now: float) -> Taken:
        """Settle `pending`, take up to `want` messages (or register idle, unless stopping). Raises
        RETRYABLE when Redis fails, having assumed the worst of the lost call."""
        first = self.next_seq
        self.next_seq += self.want  # seqs are never reused, even if the call fails
        self.board.reserve(self.slot, self.next_seq)
        register = not stopping
        try:
            # Spin for the reply only when idle work just arrived (latency counts); a busy consumer
            # sleeps in recv and leaves the CPU to Redis and its siblings.
            fetched = self.broker.deliveries.fetch(self.plan, self.want, first, woken, pending, spin=woken,
                                                   registered_seq=self.registered, register=register,
                                                   flush=self.idle)
        except RETRYABLE:
            self._orphans.update(range(first, first + self.want))
            if self.registered is not None:
                self._orphans.add(self.registered)
            self.registered = first if register else None
            self._registered_at = now
            raise
        self.registered = first if fetched.registered else None
        self._registered_at = now
        if self._orphans:
            self.hand_back_orphans(fetched.deliveries)
        return Taken(fetched, now)

    def release_idle(self) -> None:
        """Nothing was taken: the board holds only the seq a producer may hand a message to."""
        self.board.release(self.slot, self.next_seq if self.registered is None else self.registered)

    def wait(self, due_in: float | None, stopping: Callable[[], bool]) -> tuple[bool, Handed | None]:
        """Block until woken, handed a message, or the next scheduled message is due (then a fetch
        promotes it). Returns (woken by a wake token, the message handed over or None). `stopping`
        is asked, not given: stop() shuts the socket of this very wait, and the error that makes is
        the stop, not Redis failing."""
        link = self.broker.wait_link()
        self.wait_link = link
        registered = self.registered is not None
        try:
            link.connect()  # so that stop() has a socket to shut, even before the first wait
            if stopping():
                return False, None
            popped = self.broker.deliveries.wait(self.plan, WAIT_SLICE if due_in is None else due_in, registered)
            if popped is None:
                return False, None
            key, element = popped
            if registered and key.decode() == self.plan.inbox:
                seq, queue, wire = parse_handed(element)
                fresh = seq == self.registered
                self.registered = None
                delivery = Delivery(f"{self.prefix}{seq}", queue, wire)
                if seq < self.board.held(self.slot).start:
                    self.board.release(self.slot, seq)  # an older registration's: renewed from now on
                return False, Handed(delivery, self._registered_at if fresh else 0.0)
            if stopping():
                self.broker.deliveries.rewake(key)  # another idle worker may act on it
                return False, None
            return True, None
        except RETRYABLE as exc:
            if registered:  # the lost reply may have carried a message handed over
                self._orphans.add(self.registered or 0)
            if not stopping():
                self.backoff.failed(exc)
            return False, None
        finally:
            self.wait_link = None

    def deregister(self, pending: list[Ack]) -> Fetched | None:
        """Stop being registered idle, settling the last acks: a message a producer handed over just
        now goes back to its queue. None if Redis could not be reached (the supervisor hands back
        what the board still holds, or the leases run out)."""
        try:
            fetched = self.broker.deliveries.fetch(self.plan, 0, self.next_seq, False, pending,
                                        registered_seq=self.registered, register=False)
        except RETRYABLE:
            return None
        self.registered = None
        self._orphans.update(self.seq_of(d) for d in fetched.deliveries)
        self.hand_back_orphans(())
        return fetched

    def hand_back_orphans(self, delivered: list[Delivery] | tuple[()]) -> None:
        """Hand back to their queues the messages a call whose reply was lost may have leased to
        this consumer (but for those a later call delivered after all): at once, instead of when
        their leases run out, and not counted as lost deliveries. Idempotent: only tokens still in
        flight move."""
        seqs = self._orphans - {self.seq_of(d) for d in delivered}
        self._orphans = set()
        if not seqs:
            return
        try:
            count = self.broker.leases.requeue([f"{self.prefix}{seq}" for seq in sorted(seqs)], forget=False)
        except RETRYABLE:
            self._orphans = seqs  # next time; meanwhile their leases bound the wait
            return
        if count:
            logger.warning("%d message(s) taken by a call whose reply was lost went back to their queues", count)

    def confirm(self, delivery: Delivery, buffer: deque[Buffered], now: float) -> bool:
        """Ask Redis whether this delivery (and what waits behind it in `buffer`) still holds its
        lease, and renew those that do. The ones that do not are dropped: their leases ran out while
        this consumer could not renew them (frozen, or cut off from Redis), and another worker has,
        or will have, run them."""
        waiting = list(buffer)
        lost = self.broker.leases.confirm([delivery.token, *(b.delivery.token for b in waiting)])
        buffer.clear()
        buffer.extend(Buffered(b.seq, b.delivery, now) for b in waiting if b.delivery.token not in lost)
        for d in (delivery, *(b.delivery for b in waiting)):
            if d.token in lost:
                logger.warning("Delivery %s (%s) lost its lease while it waited in this worker (it was frozen or "
                               "cut off from Redis); another worker has it, so it is not run here", d.token,
                               Header.describe(d.wire))
        return delivery.token not in lost

    def hand_back(self, buffer: deque[Buffered]) -> None:
        """Stopping: what was taken but not started goes back to its queue now."""
        tokens = [b.delivery.token for b in buffer]
        buffer.clear()
        try:
            self.broker.leases.requeue(tokens)
        except RETRYABLE:
            logger.warning("could not hand back %d unstarted tasks; they return when their leases "
                           "run out", len(tokens))
