"""A worker whose board bookkeeping fails, or gets a time limit it cannot keep, goes on: its
supervisor heartbeats, runs the next task and stops on SIGTERM (issue 31, break 1).

The board (worker/board.py) is the shared memory through which a consumer tells its supervisor what
it runs, under a seqlock. A write that raised between its two version bumps once left the version
odd, and the supervisor spun on it for good: no heartbeat (the worker shown dead after ~23 s), no
lease renewed (another worker ran its long task a second time), SIGTERM ignored.
"""

from __future__ import annotations

import signal
import time
import uuid

import pytest

from jobs.engine.ops.monitor import Monitor
from jobs.engine.setup import app as engine_app
from jobs.engine.wire.message import Message, MessageOptions
from tests.testapp import tasks

#: Each store of each board write a task's run makes (tests/boardfaults counts them): start writes its
#: version twice, five fields, the task id and its end mark; returned its version twice and two
#: fields; finish its version twice and one field.
FAULTS = [("start", n) for n in range(1, 10)] + [("returned", n) for n in range(1, 5)] + \
         [("finish", n) for n in range(1, 4)]


def _heartbeat(r) -> float:
    beats = r.zrange(engine_app.current().keys.workers, 0, -1, withscores=True)
    assert len(beats) == 1, beats
    return beats[0][1]


def _heartbeats_again(r, after: float, timeout: float = 10.0) -> None:
    """The worker's heartbeat (maintain.lua, about once a second) moves past `after`."""
    deadline = time.monotonic() + timeout
    while _heartbeat(r) <= after:
        assert time.monotonic() < deadline, "the supervisor stopped heartbeating"
        time.sleep(0.05)


def _stops_on_sigterm(worker) -> None:
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.output
    assert "stopped" in worker.output


@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_a_fault_at_any_store_of_a_board_write_never_stops_the_supervisor(start_worker, r, pool):
    worker = start_worker("-P", pool, "-c", "1", "--shutdown-timeout", "5",
                          env={"JOBS_TEST_EXTRA_APPS": "tests.boardfaults"})
    # solo: a consumer that raises out of its loop is the worker itself, which then exits: finish's
    # faults (after the task, outside any task's error handling) are prefork's to show.
    faults = [f for f in FAULTS if pool == "prefork" or f[0] != "finish"]
    results = [tasks.add.apply_async((1, 2), task_id=f"fault-{write}-{n}-{uuid.uuid4().hex}", time_limit=60)
               for write, n in faults]
    for result in results:
        result.get(timeout=60, propagate=False)  # ended, one way or another (the fault may fail it)
    assert tasks.add.delay(2, 3).get(timeout=30) == 5
    _heartbeats_again(r, _heartbeat(r))
    assert Monitor(engine_app.current().broker).workers()[0].alive
    _stops_on_sigterm(worker)


def test_a_worker_refuses_to_start_with_time_limit_inf(start_worker):
    """With TIME_LIMIT = inf in settings, the first task every worker ran wedged it."""
    worker = start_worker(ready=False, settings={"TIME_LIMIT": float("inf")})  # JSON Infinity, read back as inf
    assert worker.wait(30) != 0
    assert "JOBS['TIME_LIMIT'] must be None (no limit) or a positive number of seconds" in worker.output
    assert "ready." not in worker.output


@pytest.mark.parametrize("limit", [float("inf"), float("nan"), 1e300])
def test_a_limit_no_door_lets_through_does_not_wedge_a_worker(start_worker, r, limit):
    """Written into the queue by hand (or by an older sender), past every check: the worker moves the
    message to the dead letters with the reason, and goes on."""
    worker = start_worker("-c", "1", "--shutdown-timeout", "5")
    broker = engine_app.current().broker
    bad = Message(id=str(uuid.uuid4()), task="tests.testapp.tasks.add", args=(1, 2),
                  options=MessageOptions(time_limit=limit))
    broker.sends.enqueue([bad])
    assert tasks.add.delay(2, 3).get(timeout=30) == 5
    letters = Monitor(broker).dead_letters()
    assert [d.task_id for d in letters] == [bad.id]
    # Refused by the decode's own check (nan, inf: "a broken envelope") or by the worker's (1e300:
    # "not run"), never run, and named.
    assert "time_limit" in letters[0].reason
    _heartbeats_again(r, _heartbeat(r))
    _stops_on_sigterm(worker)
