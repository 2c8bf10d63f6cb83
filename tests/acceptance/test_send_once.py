"""A send whose reply was lost, and that delay() therefore sends again, runs its task once: the
enqueue scripts remember the ids they accepted (keys.sent, JOBS["SEND_DEDUP_SECONDS"]) and a send of
a known id is a no-op. The fault is real: a loopback proxy (tests/faults.py) lets the send reach
Redis, drops its reply, and holds the retry back until an idle worker has run the first copy; the
retry then reaches Redis and the test looks for a second run."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import override_settings

from jobs import enqueue_many
from jobs.engine.redis import scripts
from jobs.engine.setup import app as engine_app
from tests.faults import FaultProxy, script
from tests.testapp import tasks
from tests.threaded import Threaded


@pytest.fixture
def proxy(redis_server, r):
    proxy = FaultProxy(redis_server.port).start()
    with override_settings(JOBS={"BROKER_URL": proxy.url}):  # this process's sends go through it
        engine_app.reset()
        for name in ("enqueue", "enqueue_unique"):  # so that the first call is not a NOSCRIPT
            r.script_load(scripts.load(name).source)
        yield proxy
    engine_app.reset()
    proxy.stop()


def _sent_with_its_reply_lost(proxy: FaultProxy, send: Callable[[], Any], first_ran: Callable[[], None],
                              which: str = "enqueue") -> Any:
    """send() in a thread of its own; its reply is lost and its retry held until first_ran() returns
    (the worker ran the first copy); then the retry goes through. What send() returned."""
    fired = proxy.faults.lost
    proxy.lose_reply(script(which), then_hold=True)
    sending = Threaded(send).start()
    proxy.wait_fired(fired + 1)
    try:
        first_ran()
    finally:
        proxy.release()
        sending.join()
    assert not sending.failed, sending.failed
    assert sending.done, "the send did not return"
    return sending.done[0]


def _drained_after(r, key: str = "after", **options: Any) -> None:
    """A task sent now, waited for: the one consumer took any second copy sent before it first."""
    tasks.record.apply_async((key, "sentinel"), **options)
    assert r.blpop([key], timeout=20), "the sentinel task did not run"


def test_a_lost_reply_to_delay_runs_the_task_once(start_worker, proxy, r):
    """The issue's case, five times in a row (each failed before: 5 of 5 ran twice)."""
    start_worker("-c", "1")
    for i in range(5):
        result = _sent_with_its_reply_lost(
            proxy, lambda i=i: tasks.record.delay("ran", f"once{i}"),
            lambda: r.blpop(["ran"], timeout=20) or pytest.fail("the first copy did not run"))
        assert result.get(timeout=20) == f"once{i}"
        _drained_after(r)
        assert r.llen("ran") == 0, r.lrange("ran", 0, -1)  # no second run
    assert proxy.faults.lost == 5


def test_a_lost_reply_to_a_batch_runs_each_task_once(start_worker, proxy, r):
    start_worker("-c", "1")

    def both_ran() -> None:
        assert r.blpop(["batch"], timeout=20) and r.blpop(["batch"], timeout=20)

    results = _sent_with_its_reply_lost(
        proxy, lambda: enqueue_many([tasks.record.s("batch", "a"), tasks.record.s("batch", "b")]), both_ran)
    assert [one.get(timeout=20) for one in results] == ["a", "b"]
    _drained_after(r)
    assert r.llen("batch") == 0, r.lrange("batch", 0, -1)


def test_a_lost_reply_to_a_delayed_send_runs_the_task_once(start_worker, proxy, r):
    start_worker("-c", "1")
    result = _sent_with_its_reply_lost(
        proxy, lambda: tasks.record.apply_async(("later", "once"), countdown=0.2),
        lambda: r.blpop(["later"], timeout=20) or pytest.fail("the first copy did not run"))
    assert result.get(timeout=20) == "once"
    _drained_after(r, countdown=0.2)  # due after a second copy would be
    assert r.llen("later") == 0, r.lrange("later", 0, -1)


def test_a_lost_reply_to_a_unique_send_runs_the_task_once_even_after_its_lock_was_released(
        start_worker, proxy, r):
    """The first copy runs and ends (its lock released) before the retry arrives: the lock alone
    would let the retry in."""
    start_worker("-c", "1")
    r.rpush("release:shop7", "go", "go")  # the run, and a second one if there were one, end at once
    done = r.pubsub()

    def ran_and_ended() -> None:
        done.subscribe("{jobs}:done:unique-7")
        assert done.get_message(timeout=5)["type"] == "subscribe"
        assert r.blpop(["started:shop7"], timeout=20)
        message = done.get_message(timeout=20)
        assert message and message["type"] == "message"  # acknowledged: the lock is released

    result = _sent_with_its_reply_lost(
        proxy, lambda: tasks.sync_shop.apply_async((7,), task_id="unique-7"), ran_and_ended, "enqueue_unique")
    done.close()
    assert result.id == "unique-7" and result.get(timeout=20) == "shop7"
    assert not r.exists("{jobs}:unique:tests.testapp.tasks.sync_shop:7")
    _drained_after(r)
    assert r.llen("started:shop7") == 0


def test_a_task_id_is_sent_once_even_on_purpose(start_worker, r):
    """Celery would run both; here a second send of an id sent within SEND_DEDUP_SECONDS is a no-op,
    and its result handle is the first run's."""
    start_worker("-c", "1")
    first = tasks.record.apply_async(("same", "first"), task_id="chosen-id")
    assert first.get(timeout=20) == "first"
    second = tasks.record.apply_async(("same", "second"), task_id="chosen-id")
    assert second.id == "chosen-id" and second.get(timeout=1) == "first"
    _drained_after(r)
    assert [v.split(b":")[0] for v in r.lrange("same", 0, -1)] == [b"first"]


def test_what_reuses_an_id_on_purpose_is_not_blocked(start_worker, r):
    """A retry (scheduled by the ack, with the same id), a chain's next steps and a chord's callback
    (sent by acks, with ids given when the workflow was sent) all run: only the producer's sends
    are checked against the ids sent."""
    from jobs import chain, chord

    start_worker("-c", "2")
    assert tasks.flaky.delay("twice", 2).get(timeout=20) == {"retries": 2}
    assert chain(tasks.add.s(1, 2), tasks.add.s(3), tasks.add.s(4)).delay().get(timeout=20) == 10
    assert chord([tasks.add.s(1, 1), tasks.add.s(2, 2)], tasks.collect.s("cb")).delay().get(timeout=20) == 6
    assert [json.loads(v) for v in r.lrange("cb", 0, -1)] == [[2, 4]]
