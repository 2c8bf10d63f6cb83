"""The board's cells for `runworker --async-concurrency` (runner.py): which async tasks each slot runs.

A consumer with a runner has several tasks running at once, each outside the board's one running
task and its held range (the range moves on while a long async task runs). So each slot has
`per_slot` cells, one a running async task (its seq, -1 = free), and the earliest of their hard
deadlines (unix ms, with the seq it belongs to): the supervisor renews those seqs' leases, hands
them back if the process dies, and kills the process past that deadline (watch.py). Written by the
runner under its lock, read by the supervisor; one aligned int64 per cell, in shared memory a
forked child inherits, apart from the board's seqlock, which these writes never take.
"""

from __future__ import annotations

from multiprocessing.sharedctypes import RawArray
from typing import Any


class AsyncCells:
    def __init__(self, slots: int, per_slot: int) -> None:
        self.per_slot = per_slot
        self._seqs: Any = RawArray("q", max(1, slots * per_slot))
        for i in range(len(self._seqs)):
            self._seqs[i] = -1
        self._deadline: Any = RawArray("q", slots * 2)

    # -- written by the runner of a slot ---------------------------------------------------------

    def hold(self, slot: int, cell: int, seq: int) -> None:
        self._seqs[slot * self.per_slot + cell] = seq

    def release(self, slot: int, cell: int) -> None:
        self._seqs[slot * self.per_slot + cell] = -1

    def deadline(self, slot: int, deadline_ms: int, seq: int) -> None:
        self._deadline[slot * 2 + 1] = seq
        self._deadline[slot * 2] = deadline_ms

    # -- read (and, for a new consumer, cleared) by the supervisor -------------------------------

    def clear(self, slot: int) -> None:
        for cell in range(self.per_slot):
            self._seqs[slot * self.per_slot + cell] = -1
        self._deadline[slot * 2] = 0

    def seqs(self, slot: int) -> list[int]:
        base = slot * self.per_slot
        return [seq for seq in self._seqs[base:base + self.per_slot] if seq >= 0]

    def overdue(self, slot: int) -> tuple[float, int] | None:
        """(deadline in unix s, seq) of the running async task to stop first, if any has a limit."""
        deadline, seq = self._deadline[slot * 2], self._deadline[slot * 2 + 1]
        return (deadline / 1000, seq) if deadline > 0 else None
