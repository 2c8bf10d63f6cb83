"""The outbox's relay: sends the rows that their writer did not (JOBS["OUTBOX"]; producer.py writes
them and sends them right after COMMIT, so the relay only sweeps what is left: a process killed
between COMMIT and its send, Redis away at that moment).

Runs in every worker (in the recorder's process, worker/recorder_process.py: the one that talks to
the database) and as `manage.py runrelay`; one at a time per site (redis/relay_turn.py's lease), the
others waiting their turn. It sweeps rows older than SWEEP_AFTER seconds, so that it does not race
the fast path for a row about to be sent and forgotten; and should it send one that the fast path
sent too, an id is sent once within JOBS["SEND_DEDUP_SECONDS"] (lua/enqueue.lua), which must stay
well above SWEEP_AFTER (60 s by default). A row is sent twice only if
its writer sent it and then died before forgetting it, and no relay got to it within that window.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..errors import BrokerUnavailable
from ..setup.app import App
from ..wire.outgoing import OutboxStore
from .producer import send_kept

logger = logging.getLogger("jobs.outbox")

#: Rows younger than this (seconds) are the fast path's.
SWEEP_AFTER = 2.0
#: Rows handed to Redis in one round trip, and read in one transaction.
BATCH = 500
#: How often a relay looks (seconds), and how long its turn lasts unless renewed (a relay that died
#: hands over after it).
EVERY = 1.0
TURN_SECONDS = 10.0
#: Longest pause after failures (seconds).
MAX_PAUSE = 30.0


class Relay:
    def __init__(self, app: App, store: OutboxStore, holder: str, clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.store = store
        self.holder = holder
        self.clock = clock
        self._failures = 0

    def sweep(self, older_than: float | None = None) -> int:
        """Send what the outbox holds that was written before `older_than` (default: SWEEP_AFTER
        ago), a batch at a time; how many rows it handed to Redis (to their queues, or refused, to the
        dead letters)."""
        cutoff = self.clock() - SWEEP_AFTER if older_than is None else older_than
        total = 0
        while True:
            handed = self.store.sweep(cutoff, BATCH, lambda rows: send_kept(self.app, rows))
            total += handed
            if handed < BATCH:
                return total

    def step(self) -> float:
        """One look, if it is this relay's turn; seconds until the next."""
        try:
            if self.app.brokers[0].relay.turn(self.holder, int(TURN_SECONDS * 1000)):  # one relay at a time, all shards
                sent = self.sweep()
                if sent:
                    logger.info("the outbox relay sent %d message(s) left after their commit", sent)
            self._failures = 0
            return EVERY
        except Exception as exc:  # Redis or the database away: both come back
            self._failures += 1
            pause: float = min(EVERY * 2.0 ** min(self._failures, 10), MAX_PAUSE)
            level = logging.WARNING if isinstance(exc, BrokerUnavailable) or self._failures > 1 else logging.INFO
            logger.log(level, "the outbox relay could not sweep (%s: %s); again in %gs", type(exc).__name__, exc,
                       pause)
            self.store.reset()
            return pause

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            stop.wait(self.step())
