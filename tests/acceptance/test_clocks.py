"""Due times and expiries are kept on Redis's clock: a sender or a worker whose clock is off does not
move a countdown, expire a task early, or delay a retry. The skewed clock is this test process's
(time.time patched, as a host whose clock drifted); the workers run on the real one."""

import datetime as dt
import time

import pytest

from jobs.engine.execution.settle import record
from jobs.engine.setup import app as engine_app
from jobs.engine.wire.message import Message
from jobs.engine.wire.outcome import RETRY, Outcome
from jobs.exceptions import TaskRevoked
from tests.testapp import tasks

REAL_TIME = time.time


def skew(monkeypatch, seconds):
    monkeypatch.setattr(time, "time", lambda: REAL_TIME() + seconds)


def redis_ms(r):
    seconds, micros = r.time()
    return seconds * 1000 + micros // 1000


def test_expires_from_a_sender_five_minutes_behind_still_gives_the_task_its_minute(start_worker, monkeypatch, r):
    skew(monkeypatch, -300)
    result = tasks.add.apply_async((1, 2), expires=60)
    start_worker("-P", "solo")
    assert result.get(timeout=10) == 3
    assert r.zcard(engine_app.current().broker.keys.expiries) == 0  # gone with its final ack


def test_a_countdown_from_a_sender_an_hour_ahead_runs_after_the_countdown(start_worker, monkeypatch, r):
    skew(monkeypatch, 3600)
    before = redis_ms(r)
    result = tasks.add.apply_async((2, 2), countdown=2)
    [due] = [score for _, score in r.zrange(engine_app.current().broker.keys.scheduled, 0, -1, withscores=True)]
    assert before + 2000 <= due <= redis_ms(r) + 2000  # two seconds from now, by Redis's clock
    start_worker("-P", "solo")
    assert result.get(timeout=10) == 4


def test_a_retry_from_a_worker_an_hour_behind_is_due_after_its_delay(monkeypatch, r):
    """The worker's side, driven in this process: the Ack a retry makes, sent from a skewed clock."""
    app = engine_app.current()
    broker = app.broker
    broker.sends.enqueue([Message(id="retried", task="tests.testapp.tasks.add", args=(1, 1))])
    [delivery] = broker.deliveries.fetch(broker.deliveries.plan(["default"], "t.0.0."), 1, 0).deliveries
    skew(monkeypatch, -3600)
    message = Message(id="retried", task="tests.testapp.tasks.add", args=(1, 1))
    outcome = Outcome(RETRY, exception=OSError("flaky"), traceback="OSError: flaky", retry_in=30)
    ack = record(app, tasks.add, message, outcome, delivery.token, "test")
    before = redis_ms(r)
    assert broker.deliveries.ack([ack]) == []
    [(_, due)] = r.zrange(broker.keys.scheduled, 0, -1, withscores=True)
    assert before + 30_000 <= due <= redis_ms(r) + 30_000


def test_an_expired_task_is_revoked_by_redis_when_taken(start_worker, r):
    """The expiry is checked in the fetch, against Redis's clock: the worker never starts it."""
    passed = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    late = tasks.record.apply_async(("ran", "late"), expires=passed)
    worker = start_worker("-P", "solo")
    with pytest.raises(TaskRevoked, match="expired before it started"):
        late.get(timeout=10)
    worker.wait_for("expired before it started; not run", timeout=10)
    assert r.llen("ran") == 0
    assert r.zcard(engine_app.current().broker.keys.expiries) == 0


@pytest.mark.parametrize("offset", [900, -900])
def test_a_console_host_whose_clock_is_off_sees_the_workers_alive_and_true_run_times(start_worker, monkeypatch, r,
                                                                                      offset):
    """Heartbeats and start times are stamped on Redis's clock, and judged on it: a console (or
    health check) host 15 minutes off shows the same as one on time."""
    from jobs import control

    name = f"clock{offset}"
    start_worker("-c", "1", "-n", "on-time")
    running = tasks.block.delay(name)
    r.blpop([f"started:{name}"], timeout=10)
    skew(monkeypatch, offset)
    deadline = time.monotonic() + 10
    while not (held := control.active()) or held[0]["started_at"] is None:  # written down each second
        assert time.monotonic() < deadline, "the worker never wrote down that its task started"
        time.sleep(0.05)
    [seen] = control.workers()
    assert seen["hostname"] == "on-time" and seen["alive"] and seen["last_seen"] < 10
    assert 0 <= held[0]["running_for"] < 10
    assert [w.hostname for w in control.monitor().workers() if w.alive] == ["on-time"]
    r.rpush(f"release:{name}", 1)
    assert running.get(timeout=10) == name
