"""Direct hand-off to idle consumers (lua/lib/deliver.lua): same lease and fencing as a fetch."""

import time

import pytest

from jobs.engine.redis.broker import Broker
from jobs.engine.setup.config import Config
from jobs.engine.wire.message import Message


@pytest.fixture
def broker(redis_server):
    return Broker(Config(broker_url=redis_server.url))


def msg(i, queue="default", **kw):
    return Message(id=f"id-{i}", task="t.noop", args=(i,), queue=queue, **kw)


def register(broker, prefix="c1.", queues=("default",), first=0, alive=True):
    if alive:  # the worker's heartbeat, which vouches for its consumers
        seconds, micros = broker.link.call("TIME")
        broker.link.call("ZADD", broker.keys.workers, int(seconds) * 1000 + int(micros) // 1000, "w1")
    fetched = broker.deliveries.fetch(broker.deliveries.plan(list(queues), prefix, "w1"), 1, first, register=True)
    assert fetched.deliveries == [] and fetched.registered
    return fetched


def test_an_idle_consumer_is_handed_the_next_message_already_leased(broker, r):
    register(broker, first=7)
    assert r.hget(broker.keys.idle, "c1.").startswith(b"7|")
    broker.sends.enqueue([msg(1)])
    assert broker.controls.queue_length("default") == 0
    seq, queue, wire = r.lpop(broker.keys.inbox("c1.")).split(b"|", 2)
    assert seq == b"7" and queue == b"default" and b"|id-1|" in wire
    assert r.hexists(broker.keys.inflight, "c1.7") and r.zscore(broker.keys.leases, "c1.7")
    assert not r.hexists(broker.keys.idle, "c1.")  # claimed: no second hand-off to it


def test_a_registered_consumer_that_fetches_again_gets_what_was_handed_to_it(broker, r):
    register(broker, first=3)
    broker.sends.enqueue([msg(1)])
    fetched = broker.deliveries.fetch(broker.deliveries.plan(["default"], "c1."), 1, 4, registered_seq=3)
    [delivery] = fetched.deliveries
    assert delivery.token == "c1.3" and b"|id-1|" in delivery.wire


def test_a_consumer_that_stops_waiting_unregisters(broker, r):
    register(broker, queues=("a", "b"))
    fetched = broker.deliveries.fetch(broker.deliveries.plan(["a", "b"], "c1."), 1, 1, registered_seq=0)
    assert fetched.deliveries == [] and not fetched.registered
    assert not r.hexists(broker.keys.idle, "c1.")
    assert r.llen(broker.keys.idle_prefix + "a") == 0 and r.llen(broker.keys.idle_prefix + "b") == 0
    broker.sends.enqueue([msg(1, "a")])
    assert broker.controls.queue_length("a") == 1


def test_stale_or_claimed_registrations_are_skipped(broker, r):
    register(broker, "c1.", ("a", "b"))
    broker.sends.enqueue([msg(1, "a")])  # claims c1 through queue a; its id stays in b's idle list
    broker.sends.enqueue([msg(2, "b")])
    assert broker.controls.queue_length("b") == 1 and r.llen(broker.keys.inbox("c1.")) == 1
    r.hset(broker.keys.idle, "c2.", f"0|30000|{int(time.time() * 1000) - 60_000}|w1")  # a minute ago
    r.rpush(broker.keys.idle_prefix + "a", "c2.")
    broker.sends.enqueue([msg(3, "a")])
    assert broker.controls.queue_length("a") == 1 and not r.exists(broker.keys.inbox("c2."))


def test_bulk_enqueue_hands_one_message_to_each_idle_consumer_and_queues_the_rest(broker, r):
    register(broker, "c1.")
    register(broker, "c2.")
    broker.sends.enqueue([msg(i) for i in range(10)])
    assert r.llen(broker.keys.inbox("c1.")) == 1 and r.llen(broker.keys.inbox("c2.")) == 1
    assert broker.controls.queue_length("default") == 8 and r.hlen(broker.keys.inflight) == 2


def test_a_revoked_message_is_not_handed_off(broker, r):
    register(broker)
    r.zadd(broker.keys.revoked, {"id-1": 1})
    broker.sends.enqueue([msg(1)])
    assert broker.controls.queue_length("default") == 1 and not r.exists(broker.keys.inbox("c1."))


def test_no_hand_off_to_a_consumer_whose_worker_stopped_beating(broker, r):
    register(broker)
    r.zadd(broker.keys.workers, {"w1": 1})  # its worker's last heartbeat: long ago (kill -9)
    broker.sends.enqueue([msg(1)])
    assert broker.controls.queue_length("default") == 1 and not r.exists(broker.keys.inbox("c1."))


def test_a_worker_that_just_said_hello_vouches_for_its_consumers_before_its_first_maintain(broker, r):
    # The supervisor starts its consumers before maintain.lua's first run (it costs them 5-17 ms):
    # hello.lua's heartbeat is what lets the first fetch's registration be handed work at once.
    broker.workers.hello("w1", ["default"])
    register(broker, alive=False)
    broker.sends.enqueue([msg(1)])
    assert broker.controls.queue_length("default") == 0 and r.llen(broker.keys.inbox("c1.")) == 1
    assert b"default" in r.smembers(broker.keys.queues)


def test_a_lost_message_goes_back_to_its_queue_not_to_an_idle_consumer(broker, r):
    broker.sends.enqueue([msg(1)])
    taken = broker.deliveries.fetch(broker.deliveries.plan(["default"], "dead."), 1, 0).deliveries
    r.zadd(broker.keys.leases, {taken[0].token: 1})  # its lease ran out
    register(broker, "c1.", first=5)
    broker.leases.maintain("w1")
    assert broker.controls.queue_length("default") == 1 and not r.exists(broker.keys.inbox("c1."))


def test_nothing_is_fetched_or_handed_off_from_a_paused_queue_and_resume_wakes_its_consumers(broker, r):
    register(broker, queues=("a", "b"))
    assert broker.controls.pause("a") and not broker.controls.pause("a")  # the second call finds it paused
    assert r.llen(broker.keys.idle_list("a")) == 0  # nobody to hand "a" off to
    broker.sends.enqueue([msg(1, "a")])
    assert broker.controls.queue_length("a") == 1 and r.llen(broker.keys.inbox("c1.")) == 0
    assert r.llen(broker.keys.wake("a")) == 0  # nobody woken for work they may not take
    broker.sends.enqueue([msg(2, "b")])  # the other queue is handed off as before
    assert r.lpop(broker.keys.inbox("c1.")).split(b"|")[1] == b"b"

    plan = broker.deliveries.plan(["a", "b"], "c2.", "w1")
    fetched = broker.deliveries.fetch(plan, 5, 1, register=True)
    assert fetched.deliveries == [] and fetched.registered
    assert r.lrange(broker.keys.idle_list("a"), 0, -1) == [] and r.lrange(broker.keys.idle_list("b"), 0, -1) == [
        b"c2."]
    assert list(broker.controls.paused()) == ["a"] and abs(broker.controls.paused()["a"] - time.time()) < 60

    assert broker.controls.resume("a") and not broker.controls.resume("a")
    assert r.lrange(broker.keys.wake("a"), 0, -1) == [b"1"]  # an idle consumer of "a" gets up
    [delivery] = broker.deliveries.fetch(plan, 5, 1, registered_seq=1).deliveries
    assert delivery.queue == "a" and b"|id-1|" in delivery.wire
