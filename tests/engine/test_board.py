"""The board's seqlock (worker/board.py): a write that fails half-way leaves it readable, a reader
never spins forever on a stalled writer, and never burns a core while it waits."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from jobs.engine.worker import board as board_module
from jobs.engine.worker.board import FIELDS, VERSION, Board, Stalled


class Fault(Exception):
    pass


class Counting:
    """The board's shared arrays with every store counted, and the `fail_at`-th one raising."""

    def __init__(self, array, shared):
        self.array, self.shared = array, shared

    def __getitem__(self, index):
        return self.array[index]

    def __setitem__(self, index, value):
        self.shared["writes"] += 1
        if self.shared["writes"] == self.shared["fail_at"]:
            raise Fault(f"store {self.shared['writes']}")
        self.array[index] = value

    def __len__(self):
        return len(self.array)


def _with_fault(board, fail_at):
    shared = {"writes": 0, "fail_at": fail_at}
    real = board._cells, board._ids
    board._cells, board._ids = Counting(real[0], shared), Counting(real[1], shared)
    return shared, real


WRITES = {  # each write's stores: its version twice, its fields, and (start) the id and its end mark
    "start": lambda b: b.start(0, 7, "task-7", 10.0, 20.0),
    "returned": lambda b: b.returned(0),
    "finish": lambda b: b.finish(0),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_a_write_that_fails_at_any_store_leaves_the_board_readable(write):
    board = Board(1)
    board.start(0, 6, "task-6", None, 30.0)
    shared, real = _with_fault(board, 0)
    WRITES[write](board)
    stores = shared["writes"]
    board._cells, board._ids = real
    assert stores >= 3
    for fail_at in range(1, stores + 1):
        board = Board(1)
        board.start(0, 6, "task-6", None, 30.0)
        _, real = _with_fault(board, fail_at)
        with pytest.raises(Fault):
            WRITES[write](board)
        board._cells, board._ids = real
        if board._cells[VERSION] % 2:  # the failed store was the last one, the version's own
            with pytest.raises(Stalled):
                board.running(0, patience=0.0)
            board.finish(0)  # the writer's next write makes it even again
        running = board.running(0, patience=0.0)
        assert running is None or (running.seq, running.task_id) in ((6, "task-6"), (7, "task-7")), fail_at


def test_a_limit_that_cannot_be_kept_is_refused_before_anything_is_written():
    board = Board(1)
    board.start(0, 6, "task-6")
    before = list(board._cells)
    for limit in (float("inf"), float("nan"), 1e300, -1.0):
        with pytest.raises(ValueError, match="time limit"):
            board.start(0, 7, "task-7", None, limit)
        assert list(board._cells) == before
    assert board.running(0).task_id == "task-6"


def test_clear_makes_the_version_even_whatever_a_dead_writer_left():
    board = Board(2)
    board._cells[FIELDS + VERSION] = 41  # slot 1's writer died half-way through a write
    board.clear(1)
    assert board._cells[FIELDS + VERSION] % 2 == 0 and board.running(1) is None


def _cpu(thread):
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def test_a_stalled_writer_cannot_make_a_reader_burn_a_core():
    """A writer stopped half-way (SIGSTOP, or killed): the supervisor reads the board every tick.
    Over a window, the reading thread's CPU time must be a small part of the window."""
    board = Board(1)
    board.start(0, 6, "task-6")
    board._cells[VERSION] += 1  # a write under way, and its writer stopped
    stop = threading.Event()
    stalls = []

    def read():
        while not stop.is_set():
            try:
                board.running(0)
            except Stalled:
                stalls.append(1)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    window = 0.5
    cpu_before = _cpu(reader)
    stop.wait(window)  # the window measured, not a wait for an event
    used = _cpu(reader) - cpu_before
    board._cells[VERSION] += 1  # the writer goes on: a reader of the old code stops spinning too
    stop.set()
    reader.join(5)
    assert stalls, "the reader never said the writer was stalled"
    assert used < window * 0.1, f"the reader used {used:.3f} s of CPU in {window} s while the writer was stalled"


def test_a_reader_waits_for_a_writer_of_its_own_process_without_holding_the_gil():
    """solo and threads: the writer needs the GIL to finish its write, so the reader must give it up;
    and what it reads is one write, never half of two."""
    board = Board(1)
    stop = threading.Event()

    def write():
        seq = 0
        while not stop.is_set():
            board.start(0, seq, f"id-{seq}")
            board.finish(0)
            seq += 1

    writer = threading.Thread(target=write)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0002)  # the threads take turns often: many a read lands mid-write
    writer.start()
    seen, deadline = set(), time.monotonic() + 30
    try:
        while len(seen) < 100 and time.monotonic() < deadline:
            try:
                running = board.running(0)
            except Stalled:  # the writer's thread was not scheduled for STALL_SECONDS: a loaded machine
                continue
            if running is not None:
                assert running.task_id == f"id-{running.seq}"
                seen.add(running.seq)
    finally:
        stop.set()
        writer.join()
        sys.setswitchinterval(interval)
    assert len(seen) == 100


def test_the_reader_sleeps_in_growing_steps_up_to_a_bound(monkeypatch):
    board = Board(1)
    board._cells[VERSION] = 1
    pauses = []
    monkeypatch.setattr(board_module.time, "sleep", pauses.append)
    with pytest.raises(Stalled):
        board.running(0, patience=0.0)
    clock = iter(range(10**6))
    monkeypatch.setattr(board_module.time, "monotonic", lambda: next(clock) * 0.001)
    pauses.clear()
    with pytest.raises(Stalled):
        board.running(0, patience=0.02)
    assert pauses == sorted(pauses) and max(pauses) <= board_module.SLEEP_MAX and len(pauses) >= 5
