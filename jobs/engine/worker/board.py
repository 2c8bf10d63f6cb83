"""The board: what each consumer slot holds, written by the consumer, read by the supervisor.

A consumer (a child process or a thread) fetches and acknowledges on its own, with no message to
its supervisor per task: that would cost a pipe write and a wake-up per task. Instead it writes a
few integers into shared memory, and the supervisor reads them when it renews leases, hands back
what a dead child held, enforces a hard time limit, or terminates a revoked task.

Delivery tokens are ``<prefix><seq>`` with consecutive seqs per consumer, so what a slot holds is a
range [lo, hi): the consumer raises `hi` before it asks Redis for messages (so a child killed in the
middle of a fetch is still known to hold them) and raises `lo` once their acks are stored. Writes
about the running task are bracketed by a version counter (a seqlock) so a reader never sees half.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.sharedctypes import RawArray
from typing import Any

VERSION, LO, HI, RUNNING, STARTED_MS, SOFT_MS, HARD_MS, RETURNED = range(8)
# Giving back: the seq claimed (-1: none runs), when (monotonic ms), the seq after the last one
# buffered, and the seq below which every unclaimed one was taken back.
CLAIMED, CLAIMED_MS, END, TAKEN = range(8, 12)
FIELDS = 12
#: How long the supervisor waits for a slot's lock before it looks again at its next check: a child
#: killed while it held the lock must not stop the supervisor (its replacement gets a new lock).
LOCK_WAIT = 0.05
#: After a task with a hard time limit returns, its hooks and its result's encoding get this long
#: before the supervisor stops its process (as for the hooks it runs itself, apart.py).
SETTLE_SECONDS = 60.0
ID_BYTES = 200  # task ids are at most 200 characters (config.check_name)


@dataclass(frozen=True, slots=True)
class Running:
    """The task a slot runs, as the supervisor reads it from the board."""

    seq: int
    task_id: str
    started: float  # unix s
    soft_deadline: float | None  # unix s
    hard_deadline: float | None
    #: Its function returned; what runs now is its settlement (hooks, the result's encoding), and
    #: hard_deadline is that settlement's (SETTLE_SECONDS), not the task's time limit.
    returned: bool = False


class Board:
    def __init__(self, slots: int, async_per_slot: int = 0) -> None:
        self.slots = slots
        self._cells: Any = RawArray("q", slots * FIELDS)
        self._ids: Any = RawArray("c", slots * ID_BYTES)
        # --async-concurrency (runner.py): each slot's running async tasks, by seq (-1 = free), and
        # the earliest of their hard deadlines (unix ms, with the seq it belongs to). Written by the
        # runner under its lock, read by the supervisor; one aligned int64 per cell.
        self.async_per_slot = async_per_slot
        self._async: Any = RawArray("q", max(1, slots * async_per_slot))
        for i in range(len(self._async)):
            self._async[i] = -1
        self._async_deadline: Any = RawArray("q", slots * 2)
        self._locks = [multiprocessing.Lock() for _ in range(slots)]
        #: Wakes the supervisor (set by it before its consumers start): a consumer rings when it
        #: starts a batch with deliveries behind the first, so the supervisor, which may be asleep
        #: for up to a second, looks at that claim WORKER_GIVE_BACK_AFTER later. Once per batch, not per task.
        self.ring: Callable[[], None] = lambda: None

    def clear(self, slot: int) -> None:
        base = slot * FIELDS
        cells = self._cells
        cells[base + VERSION] += 1
        cells[base + LO] = cells[base + HI] = 0
        cells[base + RUNNING] = cells[base + CLAIMED] = -1
        cells[base + END] = cells[base + TAKEN] = 0
        cells[base + VERSION] += 1

    def new_lock(self, slot: int) -> None:
        """Before a slot's consumer is started: the one before may have died holding the old lock."""
        self._locks[slot] = multiprocessing.Lock()

    # -- written by the consumer of a slot -----------------------------------------------------

    def reserve(self, slot: int, hi: int) -> None:
        self._cells[slot * FIELDS + HI] = hi

    def release(self, slot: int, lo: int) -> None:
        self._cells[slot * FIELDS + LO] = lo

    def buffered(self, slot: int, end: int) -> None:
        """The consumer's buffer now ends before seq `end`."""
        self._cells[slot * FIELDS + END] = end

    def claim(self, slot: int, seq: int, now: float) -> bool:
        """The consumer is about to start buffered delivery `seq` (now: monotonic s). False if the
        supervisor took it back: then it is not the consumer's to start or settle."""
        base = slot * FIELDS
        cells = self._cells
        with self._locks[slot]:
            if seq < cells[base + TAKEN]:
                return False
            cells[base + CLAIMED_MS] = int(now * 1000)
            cells[base + CLAIMED] = seq
            return True

    def ring_fd(self, fd: int) -> None:
        """Ring by writing to `fd`, the supervisor's wake-up pipe (non-blocking: a full pipe has
        already woken it). A forked consumer inherits the descriptor."""
        def ring() -> None:
            try:
                os.write(fd, b"\0")
            except OSError:
                pass

        self.ring = ring

    def unclaim(self, slot: int) -> None:
        """What it claimed has ended: nothing waits behind a running one until the next claim. No
        lock: a take-back that read the claim just before only takes what the consumer will then
        find taken."""
        self._cells[slot * FIELDS + CLAIMED] = -1

    def taken(self, slot: int) -> int:
        return int(self._cells[slot * FIELDS + TAKEN])

    def start(self, slot: int, seq: int, task_id: str = "", soft: float | None = None,
              hard: float | None = None) -> None:
        """A task starts running; soft/hard are its time limits in seconds from now."""
        base = slot * FIELDS
        cells = self._cells
        now = time.time()
        raw = task_id.encode()[:ID_BYTES]
        cells[base + VERSION] += 1
        cells[base + RUNNING] = seq
        cells[base + STARTED_MS] = int(now * 1000)
        cells[base + SOFT_MS] = int((now + soft) * 1000) if soft else 0
        cells[base + HARD_MS] = int((now + hard) * 1000) if hard else 0
        cells[base + RETURNED] = 0
        self._ids[slot * ID_BYTES: slot * ID_BYTES + len(raw)] = raw
        if len(raw) < ID_BYTES:
            self._ids[slot * ID_BYTES + len(raw)] = b"\0"
        cells[base + VERSION] += 1

    def returned(self, slot: int) -> None:
        """The task's function returned: its hard time limit no longer applies (a kill now would call
        a finished task TimeLimitExceeded), its settlement's does."""
        base = slot * FIELDS
        cells = self._cells
        cells[base + VERSION] += 1
        if cells[base + HARD_MS]:
            cells[base + HARD_MS] = int((time.time() + SETTLE_SECONDS) * 1000)
        cells[base + RETURNED] = 1
        cells[base + VERSION] += 1

    def finish(self, slot: int) -> None:
        base = slot * FIELDS
        cells = self._cells
        cells[base + VERSION] += 1
        cells[base + RUNNING] = -1
        cells[base + VERSION] += 1

    def async_hold(self, slot: int, cell: int, seq: int) -> None:
        self._async[slot * self.async_per_slot + cell] = seq

    def async_release(self, slot: int, cell: int) -> None:
        self._async[slot * self.async_per_slot + cell] = -1

    def async_deadline(self, slot: int, deadline_ms: int, seq: int) -> None:
        self._async_deadline[slot * 2 + 1] = seq
        self._async_deadline[slot * 2] = deadline_ms

    def clear_async(self, slot: int) -> None:
        for cell in range(self.async_per_slot):
            self._async[slot * self.async_per_slot + cell] = -1
        self._async_deadline[slot * 2] = 0

    # -- read (and, to give back, written) by the supervisor ------------------------------------

    def behind(self, slot: int) -> tuple[int, float, int] | None:
        """(seq claimed, when in monotonic s, end of the buffer) if deliveries wait behind a claimed
        one; read without the lock, so only a hint: take_back() decides."""
        base = slot * FIELDS
        cells = self._cells
        claimed, end = cells[base + CLAIMED], cells[base + END]
        if claimed < 0 or end <= claimed + 1:
            return None
        return claimed, cells[base + CLAIMED_MS] / 1000, end

    def take_back(self, slot: int, claimed: int) -> range:
        """Take back what waits behind `claimed` if it still runs: the seqs the consumer will not
        start (empty if it moved on, or its lock could not be had in LOCK_WAIT)."""
        base = slot * FIELDS
        cells = self._cells
        lock = self._locks[slot]
        if not lock.acquire(timeout=LOCK_WAIT):
            return range(0)
        try:
            if cells[base + CLAIMED] != claimed:
                return range(0)
            end = cells[base + END]
            start = max(claimed + 1, cells[base + TAKEN])
            if end > start:
                cells[base + TAKEN] = end
            return range(start, end)
        finally:
            lock.release()

    def async_seqs(self, slot: int) -> list[int]:
        base = slot * self.async_per_slot
        return [seq for seq in self._async[base:base + self.async_per_slot] if seq >= 0]

    def async_overdue(self, slot: int) -> tuple[float, int] | None:
        """(deadline in unix s, seq) of the running async task to stop first, if any has a limit."""
        deadline, seq = self._async_deadline[slot * 2], self._async_deadline[slot * 2 + 1]
        return (deadline / 1000, seq) if deadline > 0 else None

    def held(self, slot: int) -> range:
        base = slot * FIELDS
        return range(self._cells[base + LO], self._cells[base + HI])

    def running(self, slot: int) -> Running | None:
        base = slot * FIELDS
        cells = self._cells
        while True:
            before = cells[base + VERSION]
            seq, started = cells[base + RUNNING], cells[base + STARTED_MS]
            soft, hard, returned = cells[base + SOFT_MS], cells[base + HARD_MS], cells[base + RETURNED]
            raw = bytes(self._ids[slot * ID_BYTES:(slot + 1) * ID_BYTES]).split(b"\0", 1)[0]
            if before % 2 == 0 and cells[base + VERSION] == before:
                if seq < 0:
                    return None
                return Running(seq, raw.decode("utf-8", "replace"), started / 1000,
                               soft / 1000 if soft else None, hard / 1000 if hard else None, bool(returned))
