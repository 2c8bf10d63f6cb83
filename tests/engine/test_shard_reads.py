"""What operators read over several shards (engine/ops/merged_reads.py, Monitor over app.brokers): each shard
a whole keyspace of its own on a real Redis, filled by the broker's own moves, then read merged: what a
page shows must be the sum of the shards, in the order one set would give."""

import time

import pytest

from jobs.engine.ops.monitor import Monitor
from jobs.engine.redis.broker import Broker
from jobs.engine.setup.config import Config
from jobs.engine.wire.header import Header, entry_id
from jobs.engine.wire.message import Message


@pytest.fixture
def shards(redis_server):
    # Two keyspaces side by side, as two shards are (their own hash tags), on one server.
    return [Broker(Config(broker_url=redis_server.url, key_prefix=prefix, lease_seconds=30))
            for prefix in ("jobs", "jobs-s1")]


def msg(i, queue="default", priority=0, **kw):
    return Message(id=f"id-{i}", task="t.noop", args=(i,), queue=queue, priority=priority, **kw)


def test_one_shard_reads_its_own_reads_directly(shards):
    monitor = Monitor(shards[0])
    assert monitor.reads is shards[0].reads and monitor.brokers == [shards[0]]


def test_queue_lengths_and_priorities_add_up_and_the_older_head_is_the_queues(shards):
    first, second = shards
    second.sends.enqueue([msg(1, "emails", priority=9)])
    time.sleep(0.002)  # the header's time is in ms: the second send is later by it
    first.sends.enqueue([msg(2, "emails"), msg(3, "emails"), msg(4, "default", priority=5)])
    monitor = Monitor(shards)
    assert monitor.queues() == {"default": 1, "emails": 3}
    by_name = {q.name: q for q in monitor.queue_details()}
    assert by_name["emails"].length == 3
    assert by_name["emails"].by_priority == {0: 2, 9: 1}
    assert by_name["default"].by_priority == {5: 1}
    # The oldest waiting message of a queue is on the second shard: its age is the queue's latency.
    assert by_name["emails"].latency == pytest.approx(time.time() - _sent_at(second, "emails"), abs=0.5)


def _sent_at(broker, queue):
    return Header(broker.reads.queues([queue], [], [])[0][0].head[0].decode()).enqueued_at


def test_the_scheduled_set_reads_as_one_soonest_first(shards):
    first, second = shards
    now = time.time()
    first.sends.enqueue([msg(i, eta=now + 100 + 10 * i) for i in (0, 2, 4)])
    second.sends.enqueue([msg(i, eta=now + 100 + 10 * i) for i in (1, 3)])
    monitor = Monitor(shards)
    assert [h.id for h in monitor.scheduled(limit=10)] == ["id-0", "id-1", "id-2", "id-3", "id-4"]
    assert [h.id for h in monitor.scheduled(limit=2, offset=2)] == ["id-2", "id-3"]
    assert monitor.scheduled_count() == 5
    count, last = monitor.scheduled_extent()
    assert count == 5 and last == pytest.approx((now + 140) * 1000, abs=5)
    # Found wherever they are, and only those: an action on them goes to every shard.
    assert sorted(entry_id(m) for m in monitor.scheduled_members(["id-3", "id-0", "id-9"])) == ["id-0", "id-3"]
    due = {h.id: h.due for h in monitor.scheduled(limit=10)}
    assert sorted(entry_id(m) for m in monitor.scheduled_members(["id-1", "id-4"], due)) == ["id-1", "id-4"]


def test_dead_letters_are_merged_newest_first_and_filtered_over_every_shard(shards, r):
    first, second = shards
    for n, broker in enumerate([first, second, first]):
        broker.sends.enqueue([msg(10 + n)])
        fetched = broker.deliveries.fetch(broker.deliveries.plan(["default"], "w.0.0."), 1, n)
        [delivery] = fetched.deliveries
        broker.runs.bury(delivery.token, f"reason {n}")
        time.sleep(0.002)  # the letters' times are ms: one after the other
    monitor = Monitor(shards)
    assert [d.task_id for d in monitor.dead_letters()] == ["id-12", "id-11", "id-10"]
    assert [d.task_id for d in monitor.dead_letters(limit=1, offset=1)] == ["id-11"]
    page, more = monitor.dead_letters_matching(limit=1, reason="reason")
    assert [d.task_id for d in page] == ["id-12"] and more
    page, more = monitor.dead_letters_matching(limit=5, reason="REASON 1")
    assert [d.task_id for d in page] == ["id-11"] and not more
    assert monitor.dead_letter("id-11").reason == "reason 1"
    assert monitor.dead_count() == 3


def test_workers_and_their_records_are_read_from_the_shard_that_has_them(shards, r):
    first, second = shards
    second.workers.record("host-1.s1", {"hostname": "host-1", "queues": ["emails"], "pool": "prefork",
                                        "concurrency": 2})
    now_ms = int(r.time()[0]) * 1000
    r.zadd(second.keys.workers, {"host-1.s1": now_ms})
    r.zadd(first.keys.workers, {"host-0.s0": now_ms - 3_600_000})  # long gone, and no record left
    workers = {w.id: w for w in Monitor(shards).workers()}
    assert workers["host-1.s1"].hostname == "host-1" and workers["host-1.s1"].alive
    assert workers["host-1.s1"].queues == ["emails"]
    assert not workers["host-0.s0"].alive
    assert Monitor(shards).unserved_queues() == {}
    first.sends.enqueue([msg(1, "reports")])
    assert Monitor(shards).unserved_queues() == {"reports": 1}
