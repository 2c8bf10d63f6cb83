"""An app that makes one task's bookkeeping on the worker's board fail: installed in a worker by
JOBS_TEST_EXTRA_APPS=tests.boardfaults (tests/acceptance/test_board_faults.py).

A task whose id is "fault-<write>-<n>-..." (write: start, returned or finish) has the n-th store of
that board write raise, once per id (a Redis SET NX, so a run again after its consumer died does
not fail again). The stores are counted on the board's shared arrays, so the fault lands between
any two of them, whatever the order the board writes them in.
"""

from __future__ import annotations

import os

from django.apps import AppConfig


class InjectedFault(Exception):
    pass


class _Counting:
    def __init__(self, array, fault):
        self.array, self.fault = array, fault

    def __getitem__(self, index):
        return self.array[index]

    def __setitem__(self, index, value):
        self.fault["stores"] += 1
        if self.fault["stores"] == self.fault["at"]:
            raise InjectedFault(f"injected at store {self.fault['at']} of board.{self.fault['write']}")
        self.array[index] = value

    def __len__(self):
        return len(self.array)


def install() -> None:
    import redis

    from jobs.engine.worker.board import Board

    client = redis.Redis.from_url(os.environ["JOBS_BROKER_URL"])
    planned: dict[int, tuple[str, int, str]] = {}  # slot -> (write, n, task id) of the task it runs

    def wrap(write):
        original = getattr(Board, write)

        def faulty(self, slot, *args, **kwargs):
            if write == "start":
                task_id = args[1] if len(args) > 1 else kwargs.get("task_id", "")
                parts = task_id.split("-")
                planned.pop(slot, None)
                if len(parts) > 3 and parts[0] == "fault":
                    planned[slot] = (parts[1], int(parts[2]), task_id)
            plan = planned.get(slot)
            if plan is None or plan[0] != write or not client.set(f"boardfault:{plan[2]}", 1, nx=True):
                return original(self, slot, *args, **kwargs)
            fault = {"stores": 0, "at": plan[1], "write": write}
            cells, ids = self._cells, self._ids
            self._cells, self._ids = _Counting(cells, fault), _Counting(ids, fault)
            try:
                return original(self, slot, *args, **kwargs)
            finally:
                self._cells, self._ids = cells, ids

        setattr(Board, write, faulty)

    for write in ("start", "returned", "finish"):
        wrap(write)


class BoardFaultsConfig(AppConfig):
    name = "tests.boardfaults"

    def ready(self) -> None:
        install()
