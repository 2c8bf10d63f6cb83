"""The board: what each consumer slot holds, written by the consumer, read by the supervisor.

A consumer (a child process or a thread) fetches and acknowledges on its own, with no message to
its supervisor per task: that would cost a pipe write and a wake-up per task. Instead it writes a
few integers into shared memory, and the supervisor reads them when it renews leases, hands back
what a dead child held, enforces a hard time limit, or terminates a revoked task.

Delivery tokens are ``<prefix><seq>`` with consecutive seqs per consumer, so what a slot holds is a
range [lo, hi): the consumer raises `hi` before it asks Redis for messages (so a child killed in the
middle of a fetch is still known to hold them) and raises `lo` once their acks are stored.

Writes about the running task are bracketed by a version counter (a seqlock), odd while a write is
under way, so a reader never takes half of one. A write cannot leave it odd: every value is computed
before the version moves (a deadline that cannot be one raises there, and nothing is written), and
the version is made even again in a `finally`, the slot read as running nothing if the write failed
half-way. A reader's wait is bounded: it tries a few times (a writer in another process is done in
microseconds), then sleeps in growing steps (a writer in this process needs the GIL to finish: the
solo pool's consumer shares it with the supervising thread), and after STALL_SECONDS it raises
Stalled rather than spin: a writer stopped (SIGSTOP) or killed half-way must not take the
supervisor's loop, its heartbeat and its signals with it. The supervisor looks again at its next
tick; a slot whose consumer is gone is cleared (clear() makes the version even whatever it was).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.sharedctypes import RawArray
from typing import Any

from ..bounds import MAX_SECONDS
from .async_cells import AsyncCells

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
#: A reader that finds a write under way tries again this many times at once, then sleeps between
#: tries (from SLEEP_FIRST, doubling up to SLEEP_MAX), and gives up after STALL_SECONDS.
SPINS = 3
SLEEP_FIRST = 0.00005
SLEEP_MAX = 0.005
STALL_SECONDS = 0.05


class Stalled(Exception):
    """A slot's write stayed under way for STALL_SECONDS: its writer is stopped, or died half-way."""


def deadline_ms(now: float, seconds: float | None) -> int:
    """A time limit `seconds` from `now` (unix s) as unix ms, 0 for none. A limit that cannot be one
    (NaN, inf, past bounds.MAX_SECONDS: only a message written by hand gets here, as every door
    checks it) raises ValueError, before anything is written."""
    if not seconds:
        return 0
    if not 0 < seconds <= MAX_SECONDS:  # False for NaN
        raise ValueError(f"a time limit of {seconds!r} s cannot be kept (at most {MAX_SECONDS:.0f} s)")
    return int((now + seconds) * 1000)


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
        # Shared memory, read and written through memoryviews: a store costs a third of one through
        # ctypes (88 ns against 285), and a task makes about ten; its id, written whole, 0.4 µs
        # against 3.8. A memoryview keeps its array alive, and a forked child shares the memory.
        self._cells: Any = memoryview(RawArray("q", slots * FIELDS)).cast("B").cast("q")
        self._ids: Any = memoryview(RawArray("c", slots * ID_BYTES)).cast("B")
        #: --async-concurrency: each slot's running async tasks, in memory of their own (async_cells.py).
        self.asyncs = AsyncCells(slots, async_per_slot)
        self._locks = [multiprocessing.Lock() for _ in range(slots)]
        #: Wakes the supervisor (set by it before its consumers start): a consumer rings when it
        #: starts a batch with deliveries behind the first, so the supervisor, which may be asleep
        #: for up to a second, looks at that claim WORKER_GIVE_BACK_AFTER later. Once per batch, not per task.
        self.ring: Callable[[], None] = lambda: None

    def clear(self, slot: int) -> None:
        """Its consumer is gone (or not started): nothing held, nothing running. The version is made
        even whatever a writer that died half-way left it."""
        base = slot * FIELDS
        cells = self._cells
        version = cells[base + VERSION] | 1
        cells[base + VERSION] = version
        try:
            cells[base + LO] = cells[base + HI] = 0
            cells[base + RUNNING] = cells[base + CLAIMED] = -1
            cells[base + END] = cells[base + TAKEN] = 0
        finally:
            cells[base + VERSION] = version + 1

    def _write(self, slot: int, values: tuple[tuple[int, int], ...]) -> None:
        """Write fields (index, value) of the running task as one seqlock write: the version odd
        while it lasts and even again after, however it ends. Whatever is written here was computed
        before: only a store can fail now, and if one does the slot reads as running nothing rather
        than as half a task (the consumer's own error handling goes on)."""
        base = slot * FIELDS
        cells = self._cells
        version = cells[base + VERSION] | 1  # odd: a write is under way (a failed one before left it so)
        cells[base + VERSION] = version
        try:
            for index, value in values:
                cells[base + index] = value
        except BaseException:
            cells[base + RUNNING] = -1
            raise
        finally:
            cells[base + VERSION] = version + 1

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
        """A task starts running; soft/hard are its time limits in seconds from now. Once a task:
        _write() spelled out, its id beside the fields."""
        now = time.time()
        started, soft_ms, hard_ms = int(now * 1000), deadline_ms(now, soft), deadline_ms(now, hard)
        raw = task_id.encode()[:ID_BYTES]
        base = slot * FIELDS
        cells = self._cells
        version = cells[base + VERSION] | 1
        cells[base + VERSION] = version
        try:
            cells[base + RUNNING] = seq
            cells[base + STARTED_MS] = started
            cells[base + SOFT_MS] = soft_ms
            cells[base + HARD_MS] = hard_ms
            cells[base + RETURNED] = 0
            at = slot * ID_BYTES
            self._ids[at:at + len(raw)] = raw
            if len(raw) < ID_BYTES:
                self._ids[at + len(raw)] = 0
        except BaseException:
            cells[base + RUNNING] = -1
            raise
        finally:
            cells[base + VERSION] = version + 1

    def returned(self, slot: int) -> None:
        """The task's function returned: its hard time limit no longer applies (a kill now would call
        a finished task TimeLimitExceeded), its settlement's does."""
        hard = self._cells[slot * FIELDS + HARD_MS]  # this slot's writer is the caller: no race
        settle = int((time.time() + SETTLE_SECONDS) * 1000) if hard else 0
        self._write(slot, ((HARD_MS, settle), (RETURNED, 1)))

    def finish(self, slot: int) -> None:
        self._write(slot, ((RUNNING, -1),))

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

    def held(self, slot: int) -> range:
        base = slot * FIELDS
        return range(self._cells[base + LO], self._cells[base + HI])

    def running(self, slot: int, patience: float = STALL_SECONDS) -> Running | None:
        """What the slot runs now, read whole. A write under way is waited for, spinning SPINS
        times, then sleeping (which lets a writer of this process have the GIL), for at most
        `patience` seconds: then Stalled, never a loop that holds the caller."""
        base = slot * FIELDS
        cells = self._cells
        tries = 0
        pause = SLEEP_FIRST
        give_up = 0.0
        while True:
            before = cells[base + VERSION]
            if before % 2 == 0:
                seq, started = cells[base + RUNNING], cells[base + STARTED_MS]
                soft, hard, returned = cells[base + SOFT_MS], cells[base + HARD_MS], cells[base + RETURNED]
                raw = self._ids[slot * ID_BYTES:(slot + 1) * ID_BYTES].tobytes().split(b"\0", 1)[0]
                if cells[base + VERSION] == before:
                    if seq < 0:
                        return None
                    return Running(seq, raw.decode("utf-8", "replace"), started / 1000,
                                   soft / 1000 if soft else None, hard / 1000 if hard else None, bool(returned))
            tries += 1
            if tries <= SPINS:
                continue
            now = time.monotonic()
            if not give_up:
                give_up = now + patience
            elif now >= give_up:
                raise Stalled(f"slot {slot}: its consumer has been writing to the board for over {patience:g} s "
                              "(stopped, or killed half-way)")
            time.sleep(pause)
            pause = min(pause * 2, SLEEP_MAX)
