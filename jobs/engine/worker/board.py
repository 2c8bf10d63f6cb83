"""The board: what each consumer slot holds, written by the consumer, read by the supervisor.

A consumer (a child process or a thread) fetches and acknowledges on its own, with no message to
its supervisor per task: that would cost a pipe write and a wake-up per task. Instead it writes a
few integers into shared memory, and the supervisor reads them when it renews leases, hands back
what a dead child held, or (later) enforces a hard time limit.

Delivery tokens are ``<prefix><seq>`` with consecutive seqs per consumer, so what a slot holds is a
range [lo, hi): the consumer raises `hi` before it asks Redis for messages (so a child killed in the
middle of a fetch is still known to hold them) and raises `lo` once their acks are stored. Writes
of the running task are bracketed by a version counter (a seqlock) so a reader never sees half.
"""

from __future__ import annotations

import time
from multiprocessing.sharedctypes import RawArray
from typing import Any

VERSION, LO, HI, RUNNING, STARTED_MS = range(5)
FIELDS = 5


class Board:
    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._cells: Any = RawArray("q", slots * FIELDS)

    def clear(self, slot: int) -> None:
        base = slot * FIELDS
        cells = self._cells
        cells[base + VERSION] += 1
        cells[base + LO] = cells[base + HI] = 0
        cells[base + RUNNING] = -1
        cells[base + STARTED_MS] = 0
        cells[base + VERSION] += 1

    # -- written by the consumer of a slot -----------------------------------------------------

    def reserve(self, slot: int, hi: int) -> None:
        self._cells[slot * FIELDS + HI] = hi

    def release(self, slot: int, lo: int) -> None:
        self._cells[slot * FIELDS + LO] = lo

    def start(self, slot: int, seq: int) -> None:
        base = slot * FIELDS
        cells = self._cells
        cells[base + VERSION] += 1
        cells[base + RUNNING] = seq
        cells[base + STARTED_MS] = int(time.time() * 1000)
        cells[base + VERSION] += 1

    def finish(self, slot: int) -> None:
        base = slot * FIELDS
        cells = self._cells
        cells[base + VERSION] += 1
        cells[base + RUNNING] = -1
        cells[base + VERSION] += 1

    # -- read by the supervisor ----------------------------------------------------------------

    def held(self, slot: int) -> range:
        base = slot * FIELDS
        return range(self._cells[base + LO], self._cells[base + HI])

    def running(self, slot: int) -> tuple[int, float] | None:
        """(seq, started at unix s) of the task running in the slot, or None."""
        base = slot * FIELDS
        cells = self._cells
        while True:
            before = cells[base + VERSION]
            seq, started = cells[base + RUNNING], cells[base + STARTED_MS]
            if before % 2 == 0 and cells[base + VERSION] == before:
                return None if seq < 0 else (seq, started / 1000)
