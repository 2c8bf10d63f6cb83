"""Giving back: what a consumer took ahead goes back to its queue when the task in hand runs long.

A consumer takes a batch while its recent tasks were short (consumer.py), so that a round trip
serves many tasks. The price would be Celery's prefetch trap: a task waiting in one consumer's
buffer behind a long one while another consumer sits free. So the supervisor watches each slot's
claim on the board: once the delivery a consumer claimed has run WORKER_GIVE_BACK_AFTER (20 ms),
what waits behind it is taken back (board.take_back, under the slot's lock, so the consumer will not start it) and
handed back to the head of its queue (requeue.lua, fenced: only what is still in flight moves),
where another consumer takes it at its next fetch.

A take-back costs one round trip, and only a long task pays it. If Redis fails, the tokens are kept
(and their leases renewed) until a later check hands them back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..redis.connection import RETRYABLE
from ..setup.app import App
from .board import Board

logger = logging.getLogger("jobs.worker")

class GiveBack:
    def __init__(self, app: App, board: Board, prefix: Callable[[int], str]) -> None:
        self.app = app
        self.board = board
        self.prefix = prefix
        #: How long a claimed task runs before what waits behind it goes back (WORKER_GIVE_BACK_AFTER,
        #: s; None: never). The deliveries behind wait about this long, plus the supervisor's wake-up.
        self.after = app.config.worker_give_back_after
        #: Taken back, not yet handed back (Redis failed): the supervisor renews their leases.
        self.pending: list[str] = []

    def check(self, now: float) -> float:
        """Take back what waits behind claims older than `after` (now: monotonic s); returns the
        monotonic time of the next check (inf: nothing waits behind a running task)."""
        wake = float("inf")
        if self.after is None:
            return wake
        for slot in range(self.board.slots):
            behind = self.board.behind(slot)
            if behind is None:
                continue
            claimed, since, _ = behind
            if now < since + self.after:
                wake = min(wake, since + self.after)
                continue
            seqs = self.board.take_back(slot, claimed)
            if seqs:
                prefix = self.prefix(slot)
                self.pending.extend(f"{prefix}{seq}" for seq in seqs)
        if self.pending:
            self._hand_back()
        if self.pending:
            wake = min(wake, now + 1.0)
        return wake

    def _hand_back(self) -> None:
        tokens, self.pending = self.pending, []
        try:
            count = self.app.broker.leases.requeue(tokens, forget=False)
        except RETRYABLE as exc:
            self.pending = tokens + self.pending
            logger.warning("could not give back %d unstarted task(s) (%s); trying again", len(tokens), exc)
            return
        if count:
            logger.debug("gave back %d task(s) waiting behind a long one", count)
