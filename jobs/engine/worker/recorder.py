"""The worker's history recorder (ops/records.py): its loop. The process it runs in is recorder_process.py.

The loop reads a batch of records from the history stream, writes it to the database (the
HistoryStore), and deletes it from the stream only then; it takes over records another recorder
read but did not finish (CLAIM_IDLE), and prunes rows older than HISTORY_KEEP in bounded turns, one
recorder at a time.

A batch is turned into rows once (records that cannot be read are logged and skipped, the rest
made storable: records.clean). A database that is away keeps the batch here, tried again with
growing pauses; one that refuses the batch for what it holds has it written in halves, down to the
records it refuses, which are set aside (ops/records.py): one bad record never holds up the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..redis.backoff import Backoff
from ..redis.connection import RETRYABLE
from ..setup.app import App

if TYPE_CHECKING:
    from ..wire.record import HistoryStore, Record

logger = logging.getLogger("jobs.history")

#: Records read (and written to the database) at most at once.
BATCH = 500
#: How long a read waits for the first record (ms): an idle recorder sends one command per this.
READ_BLOCK_MS = 5000
#: Seconds between two database writes, unless the last read filled a batch.
WRITE_GAP = 0.5
#: A record another recorder read and did not finish for this long (ms) is taken over.
CLAIM_IDLE = 30_000
#: How often (s) a recorder looks for such records.
CLAIM_EVERY = 5.0
#: A recorder idle this long (ms), holding nothing, is forgotten by the group (a worker long gone).
GONE_IDLE = 3_600_000
#: Old rows: how often (s) a recorder offers to prune, rows per delete, deletes per turn.
PRUNE_EVERY = 600.0
PRUNE_BATCH = 1000
PRUNE_TURN = 10
#: Records set aside from one batch that get a log line each (the rest: counted in one line).
SET_ASIDE_LINES = 10


class Recorder:
    """One recorder's loop: read a batch, write it, delete it; prune old rows now and then."""

    def __init__(self, app: App, store: HistoryStore, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.store = store
        self.name = name
        self.clock = clock
        self.backoff = Backoff("history recorder", logger)
        self._held: list[tuple[bytes, bytes, bytes]] = []  # read, not yet written
        self._rows: list[Record] | None = None  # the held records as rows (made once, written until they are)
        self._changed: set[str] = set()  # fields clean() changed that were logged already
        self._set_aside = 0  # records of the batch being written that the database refused
        self._next_claim = 0.0
        self._next_write = 0.0
        self._next_prune = clock() + 5.0
        self._db_pause = 0.0  # while the database fails: the pause before the next try (s)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.step(stop)
        try:
            self.app.broker.history.sweep(self.name)  # stopping in order: leave the group if it holds nothing
        except RETRYABLE:
            pass

    def step(self, stop: threading.Event) -> None:
        """One turn: read a batch (or keep the one the database refused), write it, prune."""
        now = self.clock()
        if now < self._next_write and stop.wait(self._next_write - now):
            return
        try:
            if not self._held:
                self._held = self._take()
                self._rows = None
            if self._held:
                self._write(stop)
            self._prune()
            self.backoff.ok()
        except RETRYABLE as exc:  # Redis away: the records wait there
            if not stop.is_set():  # else: stop() cut the blocking read short, on purpose
                self.backoff.failed(exc, stop.is_set)

    def _take(self) -> list[tuple[bytes, bytes, bytes]]:
        broker = self.app.broker
        now = self.clock()
        if now >= self._next_claim:
            self._next_claim = now + CLAIM_EVERY
            broker.history.sweep(idle_ms=GONE_IDLE)
            stale = broker.history.claim(self.name, CLAIM_IDLE, int(self.app.config.lease_seconds * 1000), BATCH)
            if stale:
                logger.info("took over %d history record(s) another recorder had read but not written", len(stale))
                return stale
        return broker.history.read(self.name, BATCH, block_ms=READ_BLOCK_MS)

    def _write(self, stop: threading.Event) -> None:
        if self._rows is None:
            self._rows = self._rows_of(self._held)
        self._set_aside = 0
        try:
            if self._rows:
                self._store(self._rows)
        except Exception as exc:  # the database is away: keep the records, try again
            self.store.reset()
            if not self._db_pause:
                logger.error("the history could not be written to the database (%s: %s); %d record(s) kept in "
                             "Redis and tried again with growing pauses; tasks go on meanwhile",
                             type(exc).__name__, exc, len(self._held))
            self._db_pause = min(max(self._db_pause * 2, 0.5), 30.0)
            self._next_write = self.clock() + self._db_pause
            return
        if self._db_pause:
            logger.warning("the history is written to the database again")
            self._db_pause = 0.0
        if self._set_aside > SET_ASIDE_LINES:
            logger.error("%d history record(s) of this batch were refused by the database and set aside (%d "
                         "logged above); the other %d were written", self._set_aside, SET_ASIDE_LINES,
                         len(self._rows) - self._set_aside)
        self.app.broker.history.done([entry_id for entry_id, _, _ in self._held])
        full = len(self._held) >= BATCH
        self._held = []
        self._rows = None
        self._next_write = self.clock() + (0.0 if full else WRITE_GAP)
        self._report_dropped()

    def _rows_of(self, entries: list[tuple[bytes, bytes, bytes]]) -> list[Record]:
        """The records of the entries, each made storable; the first change of each field is logged."""
        from ..ops.records import clean, records_of  # here, in the recorder's process: the supervisor never needs it

        rows = []
        limits = self.store.limits
        for record in records_of(self.app.registry, self.app.redactor, entries):
            row, said = clean(record, limits)
            new = [f"{field}: {what}" for field, what in said if field not in self._changed]
            if new:
                self._changed.update(field for field, _ in said)
                logger.warning("the history record of %s[%s] was changed to fit the database: %s; further records "
                               "changed in the same field(s) are stored without a word", row.name, row.task_id,
                               "; ".join(new))
            rows.append(row)
        return rows

    def _store(self, rows: Sequence[Record]) -> None:
        """Write the rows. When the database refuses them for what they hold, write them in halves,
        down to the rows it refuses (a few writes for one bad row in a batch of 500), and set those
        aside. Raises what a database that is away raises: the caller keeps them all."""
        try:
            self.store.store(rows)
            return
        except Exception as exc:
            if not self.store.refused(exc):
                raise
            if len(rows) == 1:
                self._set_aside_row(rows[0], exc)
                return
        half = len(rows) // 2
        self._store(rows[:half])
        self._store(rows[half:])

    def _set_aside_row(self, row: Record, exc: Exception) -> None:
        """A row the database refuses: a stand-in row in its place (records.unrecordable), said in the log."""
        from ..ops.records import clean, unrecordable  # as _rows_of: only in the recorder's process

        # Its first line: what follows may quote the row (PostgreSQL's "Failing row contains ..."),
        # which the stand-in would carry back to the database.
        reason = f"{type(exc).__name__}: {str(exc).strip()}".splitlines()[0][:300]
        stand_in, _ = clean(unrecordable(row, reason), self.store.limits)
        try:
            self.store.store([stand_in])
            kept = "a row in its place says so"
        except Exception as again:
            if not self.store.refused(again):
                raise
            kept = f"a row in its place was refused too ({type(again).__name__}: {again}), so nothing of it is kept"
        self._set_aside += 1
        if self._set_aside <= SET_ASIDE_LINES:
            logger.error("the database refused the history record of %s[%s] (%s); %s; the other records are "
                         "written", row.name, row.task_id, reason, kept)

    def _report_dropped(self) -> None:
        dropped = self.app.broker.history.dropped()
        if dropped:
            logger.error("the history backlog was full (HISTORY_BACKLOG=%d): %s outcome(s) were not recorded",
                         self.app.config.history_backlog,
                         " and ".join(f"{count} {kind}" for kind, count in sorted(dropped.items())))

    def _prune(self) -> None:
        """Rows older than HISTORY_KEEP go, a bounded number per turn, by one recorder at a time."""
        now = self.clock()
        if now < self._next_prune:
            return
        if not self.app.broker.history.prune_turn(self.name, int(PRUNE_EVERY * 1000)):
            self._next_prune = now + PRUNE_EVERY
            return
        before = time.time() - self.app.config.history_keep
        deleted = 0
        try:
            for _ in range(PRUNE_TURN):
                n = self.store.prune(before, PRUNE_BATCH)
                deleted += n
                if n < PRUNE_BATCH:
                    self._next_prune = now + PRUNE_EVERY
                    break
            else:
                self._next_prune = now  # more to do: another turn after the next write
        except Exception as exc:
            self.store.reset()
            logger.warning("old history rows could not be pruned (%s: %s); tried again later", type(exc).__name__, exc)
            self._next_prune = now + 60.0
        if deleted:
            logger.info("pruned %d history row(s) older than %g days (HISTORY_KEEP)", deleted,
                        self.app.config.history_keep / 86400)
