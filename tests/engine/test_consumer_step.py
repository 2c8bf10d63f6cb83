"""The consumer's loop, one step at a time (Consumer.step(now)), on a clock the test drives, in this
process: the policies that depend on time, without waiting for it. Real Redis, real tasks (run
here), a real board; only the clock is the test's."""

from types import SimpleNamespace

import pytest

from jobs.engine.redis.tally import TALLY
from jobs.engine.setup import app as engine_app
from jobs.engine.worker import consumer as consumer_module
from jobs.engine.worker.board import Board
from jobs.engine.worker.consumer import ACK_DELAY, BATCH_SECONDS, Consumer
from jobs.engine.worker.giveback import GiveBack
from tests.testapp import tasks

pytestmark = pytest.mark.django_db


def consumer(prefetch=0, board=None, prefix="t.0.0."):
    c = Consumer(engine_app.current(), ["default"], 0, prefix, board or Board(1), prefetch=prefetch,
                 hostname="test")
    c.pace = 0.0  # as if its recent tasks were instant: it takes all that prefetch allows
    return c


def in_flight(r):
    return r.hlen(engine_app.current().broker.keys.inflight)


def test_acks_travel_with_the_next_fetch_unless_the_oldest_has_waited_ack_delay(r, monkeypatch):
    # Its tasks take no time on the consumer's clock, whatever this machine's speed: `record` is
    # known short after its first run, so acks may wait behind it (the test's clock decides when not).
    monkeypatch.setattr(consumer_module, "time", SimpleNamespace(monotonic=lambda: 0.0))
    results = [tasks.record.delay("ran", i) for i in range(3)]
    c = consumer(prefetch=2)
    c.step(0.0)  # fetch: all three, leased
    assert len(c.buffer) == 3 and in_flight(r) == 3
    c.step(0.0)  # run the first: its ack waits
    c.step(ACK_DELAY / 2)  # run the second: the first's ack is younger than ACK_DELAY, still waits
    assert r.llen("ran") == 2 and in_flight(r) == 3 and len(c.acks.pending) == 2
    c.step(ACK_DELAY * 2)  # the oldest waited too long: both acks go before the third runs, unawaited
    assert [x.get(timeout=5) for x in results[:2]] == [0, 1] and len(c.acks.owed) == 1 and r.llen("ran") == 3
    tasks.record.delay("ran", 4)  # so that the next fetch finds work (an empty one would wait for it)
    c.step(ACK_DELAY * 3)  # the reply owed is read; the fetch carries the third's ack
    assert not c.acks.owed and not c.acks.pending and results[2].status == "SUCCESS" and in_flight(r) == 1
    assert list(c.board.held(0)) == [c.buffer[0].seq]  # only the one it took: the settled ones let go


def test_acks_that_could_not_be_sent_unawaited_are_sent_and_awaited(r, monkeypatch):
    results = [tasks.record.delay("ran", i) for i in range(3)]
    c = consumer(prefetch=2)
    c.step(0.0)
    c.step(0.0)
    down = ConnectionError("down")
    monkeypatch.setattr(c.acks.acker.deliveries, "send_ack", lambda acks: (_ for _ in ()).throw(down))
    c.step(ACK_DELAY * 2)  # the first's ack cannot go on its own connection: it goes on the consumer's
    assert results[0].status == "SUCCESS" and not c.acks.owed and len(c.acks.pending) == 1


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
    monkeypatch.setattr(c.broker.leases, "confirm", lambda tokens: pytest.fail("asked Redis for a fresh delivery"))
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
    assert c.step(0.01) is False  # the two it had not started handed back
    c.finish()  # the first's ack was sent as it ended; its reply is read here
    assert r.llen("ran") == 1 and in_flight(r) == 0
    assert engine_app.current().broker.controls.queue_length("default") == 2


@pytest.mark.parametrize(("pace", "prefetch", "taken"), [
    (0.0, 16, 17),  # instant tasks: all that prefetch allows
    (BATCH_SECONDS / 4, 16, 5),  # as many as run in BATCH_SECONDS
    (BATCH_SECONDS * 10, 16, 1),  # slow ones: one at a time
    (0.0, 0, 1),  # --prefetch 0: one at a time, however short
])
def test_a_batch_is_sized_to_the_pace_of_the_recent_tasks(r, pace, prefetch, taken):
    for i in range(20):
        tasks.record.delay("ran", i)
    c = consumer(prefetch=prefetch)
    c.pace = pace
    c.step(0.0)
    assert len(c.buffer) == taken and in_flight(r) == taken


def test_what_waits_behind_a_long_task_is_taken_back_and_never_started_here(r, monkeypatch):
    """The supervisor looks while the first task runs (here: from inside it) and takes back the two
    behind it; the consumer then finds them taken and drops them. Another consumer runs them, once."""
    for i in range(3):
        tasks.record.delay("ran", i)
    board = Board(1)
    c = consumer(prefetch=2, board=board)
    supervisor = GiveBack(engine_app.current(), board, lambda slot: "t.0.0.")
    after = supervisor.after
    handle = c.handler.handle

    def long_task(delivery, started):
        assert supervisor.check(after / 2) == after  # not yet: when to look again
        supervisor.check(after * 2)
        return handle(delivery, started)

    c.step(0.0)  # fetch all three
    monkeypatch.setattr(c.handler, "handle", long_task)
    c.step(0.0)  # run the first, which runs long
    broker = engine_app.current().broker
    assert r.llen("ran") == 1 and broker.controls.queue_length("default") == 2
    monkeypatch.undo()
    c.step(0.0)  # the next was taken back: dropped, not run
    assert r.llen("ran") == 1 and not c.buffer
    other = consumer(prefetch=2, prefix="t.1.0.")
    for _ in range(3):  # fetch both, run both
        other.step(0.0)
    other.stop()
    other.step(0.0)
    other.finish()
    c.stop()
    c.step(0.0)
    c.finish()
    assert sorted(v.decode().split(":")[0] for v in r.lrange("ran", 0, -1)) == ["0", "1", "2"]
    assert in_flight(r) == 0 and list(board.held(0)) == []  # its own ack sent, nothing left to renew


def test_a_take_back_after_the_consumer_moved_on_takes_only_what_waits_behind_the_new_claim():
    board = Board(1)
    board.clear(0)
    board.buffered(0, 5)
    assert board.claim(0, 1, 0.0)
    board.unclaim(0)
    assert board.claim(0, 2, 0.0)  # the supervisor read the claim of 1, then this happened
    assert list(board.take_back(0, 1)) == []  # not what it saw: nothing taken
    assert list(board.take_back(0, 2)) == [3, 4]
    assert not board.claim(0, 3, 0.0) and board.taken(0) == 5
    assert list(board.take_back(0, 2)) == []  # taken once


def test_a_consumer_back_from_a_handed_over_task_sends_its_counts_with_its_fetch_not_on_their_own(r, monkeypatch):
    # Under light load every task is handed to an idle consumer: its next fetch finds nothing, and
    # the metrics' counts, sent before it waits again, ride that fetch instead of a round trip of
    # their own (intake.Intake.idle).
    monkeypatch.setattr(TALLY, "worker", TALLY.worker)  # a consumer with a worker id sets it
    c = Consumer(engine_app.current(), ["default"], 0, "t.0.0.", Board(1), prefetch=0, hostname="test", worker_id="w1")
    keys = engine_app.current().broker.keys
    seconds, micros = r.time()
    r.zadd(keys.workers, {"w1": seconds * 1000 + micros // 1000})  # its worker's heartbeat vouches for it
    stats = keys.stats
    flush = c.broker.deliveries.flush_counts

    def then_a_producer_sends(*args, **kwargs):  # as the consumer goes to block, already registered idle
        flush(*args, **kwargs)
        tasks.record.delay("ran", 1)

    monkeypatch.setattr(c.broker.deliveries, "flush_counts", then_a_producer_sends)
    c.step(0.0)  # nothing to fetch: registered idle, then handed the task in its wait (BLPOP)
    assert len(c.buffer) == 1 and c.intake.idle
    monkeypatch.setattr(c.broker.deliveries, "flush_counts", flush)
    r.delete(stats)
    c.step(0.0)  # runs it: its count waits in this process for the next call to Redis
    assert r.llen("ran") == 1 and not r.exists(stats)
    monkeypatch.setattr(c.broker.deliveries, "wait", lambda *args, **kwargs: None)  # a wait that ends at once
    before = r.info("commandstats")["cmdstat_evalsha"]["calls"]
    c.step(0.0)  # the fetch settles it, finds nothing, registers idle again; then the wait
    assert r.info("commandstats")["cmdstat_evalsha"]["calls"] - before == 1  # fetch.lua alone: no ack.lua
    assert any(b"record" in field for field in r.hkeys(stats))  # the count went with the fetch


def test_a_consumer_sends_on_what_its_settled_acks_handed_to_another_shard(r):
    """A chain's next step on another shard: the ack puts it in its own shard's forward set
    (redis/forwards.py); the consumer sends it on as soon as that ack is settled, without waiting for
    its supervisor's turn (no supervisor runs here at all)."""
    from django.test import override_settings

    from jobs import chain

    settings = {"SHARDS": 2, "QUEUE_SHARD": {"default": 0, "other": 1}}
    with override_settings(JOBS=settings):
        done = chain(tasks.add.s(1, 1), tasks.add.s(5).set(queue="other")).delay()
        c = consumer()
        assert c.acks.on_forward is not None
        c.step(0.0)  # fetch the first step
        c.step(0.0)  # run it: its ack (with the envelope for shard 1) waits
        assert len(c.acks.pending) == 1 and c.acks.forwards
        tasks.add.delay(0, 0)  # so that the next fetch finds work (an empty one would wait for it)
        c.step(ACK_DELAY * 2)  # the fetch carries the ack; once settled, the envelope is sent on
        assert not c.acks.forwards
        assert r.zcard("{jobs}:forward") == 0, "the envelope still waits for a supervisor's turn"
        assert r.zcard("{jobs:1}:queue:other") == 1  # the next step, on its own shard
        assert done.parent.get(timeout=5) == 2
