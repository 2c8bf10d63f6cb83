"""A consumer's acks, from the end of their tasks to Redis's reply (consumer.py runs the tasks).

Acks wait in `pending` for the next fetch, which carries them, but only behind tasks known to be
short: they are sent before the next task starts, in one call on a connection of their own without
waiting for the reply (read at the next fetch), once the oldest one's task started ACK_DELAY ago,
or when the next task's name did not run under ACK_DELAY last time (a long task, or one never seen,
which may be the one that kills its process). A consumer that dies (a segfault, the OOM killer, a
hard time limit) thus runs again, besides the task it ran, only tasks it finished in the last
ACK_DELAY while running short ones. Sending each ack as its task
ends would close that window, and cost ~30 % of the drain rate of short tasks on 2 CPUs: every
write wakes Redis, and the consumer and Redis then take turns on the CPUs once a task.

The consumer's loop reads and writes this state inline, once a task (`pending`, `owed`, `hi`,
`since`, `short`): no call of this module's is on the per-task path but send(), which that rule
makes rare. The board's held range lets go of a delivery only once its ack is stored (or refused).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..redis.backoff import Backoff
from ..redis.broker import Broker
from ..redis.connection import RETRYABLE
from ..redis.deliveries import Ack, Refused
from .board import Board

logger = logging.getLogger("jobs.worker")

#: A finished task's ack waits for the next fetch at most about this long from its task's start (s):
#: all a consumer's death can make run twice, besides the task it ran.
ACK_DELAY = 0.005


def report_refused(refused: list[Refused], acks: list[Ack], retried: bool) -> None:
    """Say why acks were refused, by what the refusal tells: the lease ran out (another worker has
    the task); or, for an ack sent again after a failed attempt, either that attempt was applied
    (the task has a result) or Redis lost the task in between (a restart without persistence):
    then this run's result is lost, and the task stays PENDING unless it runs again."""
    by_token = {ack.token: ack for ack in acks}
    for refusal in refused:
        ack = by_token.get(refusal.token)
        what = f"Task {ack.task}[{ack.task_id}]" if ack is not None else "A task"
        if not retried:
            logger.warning("%s: its ack (delivery %s) was refused: its lease had run out and the task was handed to "
                           "another worker, so this run's result was not stored", what, refusal.token)
        elif refusal.stored or (ack is not None and not ack.payload):
            logger.info("%s: its ack (delivery %s) was refused when sent again: the first attempt had been "
                        "applied (only its reply was lost)", what, refusal.token)
        else:
            logger.warning("%s: its result could not be stored: Redis no longer had the task when its ack was "
                           "sent again (Redis restarted without persistence, or failed over?). The task ran, "
                           "but its result is lost and it stays PENDING; see docs/failures.md", what)


class Acks:
    def __init__(self, broker: Broker, board: Board, slot: int, backoff: Backoff) -> None:
        self.broker = broker  # the consumer's: what goes with a fetch, or is flushed, goes on it
        self.board = board
        self.slot = slot
        self.backoff = backoff  # the consumer's: one pause for all its calls while Redis fails
        self.pending: list[Ack] = []
        #: Acks sent through `acker`, a connection of their own, whose replies are not read yet: one
        #: list per call.
        self.owed: list[list[Ack]] = []
        self.acker = broker.private()
        self._loaded = False  # ack.lua loaded on the acker's Redis (a NOSCRIPT reply resets it)
        self.hi = 0  # seq after the last delivery whose ack is in `pending` or `owed`
        self.since = 0.0  # when the task of the oldest pending ack started
        #: Task names (from the wire's header) whose last run took under ACK_DELAY: acks wait behind them.
        self.short: dict[bytes, bool] = {}
        self.retried = False  # the pending acks went with a call that failed: a refusal may be harmless
        #: An ack pending or owed handed a message to another shard (its own shard's forward set,
        #: redis/forwards.py): once every ack is settled, on_forward() sends it on now (consumer.py),
        #: not at the supervisor's next turn, a second away. Sent twice (both did), it is sent once.
        self.forwards = False
        self.on_forward: Callable[[], object] | None = None

    def send(self) -> bool:
        """Send the pending acks now without waiting for the reply; False if Redis failed (then
        they stay pending)."""
        try:
            if not self._loaded:
                self.acker.deliveries.load_ack()
                self._loaded = True
            self.acker.deliveries.send_ack(self.pending)
        except RETRYABLE:
            return False
        self.owed.append(self.pending)
        self.pending = []
        return True

    def settle_owed(self) -> None:
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
                self.retried = True
                break
            if reply is None:  # Redis lost its scripts (a restart): it did not run
                self.pending += acks
                self._loaded = False
            else:
                refused += reply
        if refused:
            report_refused(refused, [ack for sent in owed for ack in sent], False)
        if not self.pending:
            self.board.release(self.slot, self.hi)
            self._forward()

    def flush(self, stopping: bool) -> None:
        """Send pending acks now; kept for the next attempt while Redis fails."""
        self.settle_owed()
        while self.pending:
            try:
                self.report(self.broker.deliveries.ack(self.pending))
                self.backoff.ok()
                break
            except RETRYABLE as exc:
                self.retried = True
                if stopping and self.backoff.pause >= 10.0:
                    logger.error("giving up on %d acks; their tasks will run again when their leases "
                                 "run out", len(self.pending))
                    break
                self.backoff.failed(exc)
        self.pending = []
        self.board.release(self.slot, self.hi)
        self._forward()

    def carried(self) -> None:
        """A fetch carried the pending acks, and its reply came: the board lets go of them."""
        if self.pending:
            self.board.release(self.slot, self.hi)
            self.pending = []
            self._forward()

    def _forward(self) -> None:
        """What settled acks handed to another shard, sent on now if nothing is left unsettled (an
        envelope exists once its ack ran). If Redis fails here, the supervisor's turn sends it."""
        if not self.forwards or self.pending or self.owed or self.on_forward is None:
            return
        self.forwards = False
        try:
            self.on_forward()
        except RETRYABLE as exc:
            logger.debug("messages for other shards wait for the supervisor's turn: %s", exc)

    def report(self, refused: list[Refused]) -> None:
        retried, self.retried = self.retried, False
        if refused:
            report_refused(refused, self.pending, retried)
