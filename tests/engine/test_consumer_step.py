"""The consumer's loop, one step at a time (Consumer.step(now)), on a clock the test drives, in this
process: the policies that depend on time, without waiting for it. Real Redis, real tasks (run
here), a real board; only the clock is the test's."""

import pytest

from jobs.engine import app as engine_app
from jobs.engine.worker.board import Board
from jobs.engine.worker.consumer import ACK_DELAY, Consumer
from tests.testapp import tasks

pytestmark = pytest.mark.django_db


def consumer(prefetch=0):
    return Consumer(engine_app.current(), ["default"], 0, "t.0.0.", Board(1), prefetch=prefetch, hostname="test")


def in_flight(r):
    return r.hlen(engine_app.current().broker.keys.inflight)


def test_acks_travel_with_the_next_fetch_unless_the_oldest_has_waited_ack_delay(r):
    results = [tasks.record.delay("ran", i) for i in range(3)]
    c = consumer(prefetch=2)
    c.step(0.0)  # fetch: all three, leased
    assert len(c.buffer) == 3 and in_flight(r) == 3
    c.step(0.0)  # run the first: its ack waits
    c.step(ACK_DELAY / 2)  # run the second: the first's ack is younger than ACK_DELAY, still waits
    assert r.llen("ran") == 2 and in_flight(r) == 3 and len(c.pending) == 2
    c.step(ACK_DELAY * 2)  # the oldest waited too long: both acks go before the third runs
    assert in_flight(r) == 1 and r.llen("ran") == 3 and [x.status for x in results[:2]] == ["SUCCESS"] * 2
    tasks.record.delay("ran", 4)  # so that the next fetch finds work (an empty one would wait for it)
    c.step(ACK_DELAY * 3)  # nothing buffered: the next fetch carries the third's ack
    assert in_flight(r) == 1 and results[2].status == "SUCCESS"


def test_a_delivery_that_waited_half_a_lease_is_confirmed_and_dropped_if_lost(r):
    lease = engine_app.current().config.lease_seconds
    broker = engine_app.current().broker
    for i in range(3):
        tasks.record.delay("ran", i)
    c = consumer(prefetch=2)
    c.step(0.0)
    c.step(0.0)  # the first runs; the other two wait in the buffer
    lost = c.buffer[1].delivery.token
    r.hdel(broker.keys.inflight, lost)  # its lease ran out meanwhile (as maintain.lua does)
    r.zrem(broker.keys.leases, lost)
    c.step(lease)  # half a lease has passed: ask Redis before starting the second
    assert r.llen("ran") == 2 and len(c.buffer) == 0  # the second ran, the lost third was dropped


def test_fresh_deliveries_start_without_asking(r, monkeypatch):
    c = consumer(prefetch=1)
    tasks.record.delay("ran", 1)
    tasks.record.delay("ran", 2)
    c.step(0.0)
    monkeypatch.setattr(c.broker, "confirm", lambda tokens: pytest.fail("asked Redis for a fresh delivery"))
    c.step(0.0)
    c.step(c.fresh / 2)
    assert r.llen("ran") == 2


def test_stopping_hands_back_what_was_taken_but_not_started(r):
    for i in range(3):
        tasks.record.delay("ran", i)
    c = consumer(prefetch=2)
    c.step(0.0)
    c.step(0.0)
    c.stop()
    assert c.step(0.01) is False  # its ack sent, the two it had not started handed back
    assert r.llen("ran") == 1 and in_flight(r) == 0
    assert engine_app.current().broker.queue_length("default") == 2
