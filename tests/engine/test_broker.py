"""The broker's moves, against a real Redis: each one atomic, fenced, and one round trip."""

import json
import time
import uuid

import pytest

from jobs.engine.redis.broker import Broker
from jobs.engine.redis.deliveries import Ack, Refused
from jobs.engine.setup.config import Config
from jobs.engine.wire.message import Message, MessageOptions, decode
from jobs.engine.wire.workflow import ChainNode, ChordSpec, Step


@pytest.fixture
def broker(redis_server):
    return Broker(Config(broker_url=redis_server.url, lease_seconds=30))


def msg(i, queue="default", priority=0, **kw):
    return Message(id=f"id-{i}", task="t.noop", args=(i,), queue=queue, priority=priority, **kw)


def take(broker, queues=("default",), want=10, prefix="w.0.0.", first=0, **kw):
    fetched = broker.deliveries.fetch(broker.deliveries.plan(list(queues), prefix), want, first, **kw)
    return fetched.refused, fetched.deliveries


def ids(deliveries):
    return [d.wire.split(b"|")[2].decode() for d in deliveries]


def test_fifo_within_a_priority_and_higher_priority_first(broker):
    broker.sends.enqueue([msg(1), msg(2, priority=9), msg(3), msg(4, priority=5), msg(5, priority=9)])
    _, got = take(broker)
    assert ids(got) == ["id-2", "id-5", "id-4", "id-1", "id-3"]


def test_queues_are_served_in_the_order_given(broker):
    broker.sends.enqueue([msg(1, "low"), msg(2, "high"), msg(3, "low"), msg(4, "high")])
    _, got = take(broker, ["high", "low"], want=3)
    assert ids(got) == ["id-2", "id-4", "id-1"]
    assert [d.queue for d in got] == ["high", "high", "low"]


def test_a_consumer_never_takes_from_a_queue_it_was_not_given(broker):
    broker.sends.enqueue([msg(1, "emails")])
    assert take(broker, ["default"])[1] == []
    assert broker.controls.queue_length("emails") == 1


def test_fetch_leases_each_message_and_ack_settles_it_with_its_result(broker, r):
    broker.sends.enqueue([msg(1)])
    _, [d] = take(broker)
    assert d.token == "w.0.0.0"
    assert r.zscore(broker.keys.leases, d.token) > time.time() * 1000
    assert r.hexists(broker.keys.inflight, d.token)
    assert broker.deliveries.ack([Ack(d.token, "id-1", '{"status":"SUCCESS"}')]) == []
    assert r.zcard(broker.keys.leases) == 0 and r.hlen(broker.keys.inflight) == 0
    assert r.get(broker.keys.result("id-1")) == b'{"status":"SUCCESS"}'
    assert 0 < r.pttl(broker.keys.result("id-1")) <= 86400 * 1000


def test_ack_and_next_fetch_are_one_call(broker, r):
    broker.sends.enqueue([msg(1), msg(2)])
    _, [d1] = take(broker, want=1)
    refused, [d2] = take(broker, want=1, first=1, acks=[Ack(d1.token, "id-1", '{"status":"SUCCESS"}')])
    assert refused == [] and ids([d2]) == ["id-2"]
    assert r.exists(broker.keys.result("id-1"))


def test_expired_lease_goes_back_to_its_queue_and_the_old_holder_is_fenced(redis_server, r):
    broker = Broker(Config(broker_url=redis_server.url, lease_seconds=1))
    broker.sends.enqueue([msg(1)])
    _, [d] = take(broker)
    r.zadd(broker.keys.leases, {d.token: 0})  # as if the lease ran out long ago
    maintenance = broker.leases.maintain("w1")
    assert maintenance.recovered == [(d.token, "default")]
    assert broker.controls.queue_length("default") == 1
    # The old holder wakes up and tries to finish: refused, no result stored.
    assert broker.deliveries.ack([Ack(d.token, "id-1", '{"status":"SUCCESS"}')]) == [Refused(d.token, stored=False)]
    assert not r.exists(broker.keys.result("id-1"))
    # The new delivery counts the lost one and can finish.
    _, [again] = take(broker, prefix="w2.0.0.")
    assert again.wire.split(b"|")[1] == b"1"
    assert broker.deliveries.ack([Ack(again.token, "id-1", '{"status":"SUCCESS"}')]) == []


def test_renew_extends_held_leases_but_never_resurrects_a_lost_one(broker, r):
    broker.sends.enqueue([msg(1), msg(2)])
    _, [d1, d2] = take(broker)
    r.zadd(broker.keys.leases, {d1.token: 1, d2.token: 1})
    r.zrem(broker.keys.leases, d2.token)  # d2 was recovered by another worker
    broker.leases.renew([d1.token, d2.token])
    assert r.zscore(broker.keys.leases, d1.token) > time.time() * 1000
    assert r.zscore(broker.keys.leases, d2.token) is None


def test_requeue_hands_back_only_what_is_still_held(broker, r):
    broker.sends.enqueue([msg(1), msg(2)])
    _, [d1, d2] = take(broker)
    broker.deliveries.ack([Ack(d1.token, "id-1", "")])
    assert broker.leases.requeue([d1.token, d2.token, "never-existed"]) == 1
    assert broker.controls.queue_length("default") == 1
    assert r.hlen(broker.keys.inflight) == 0 and r.zcard(broker.keys.leases) == 0


def test_scheduled_messages_wait_in_redis_until_due(broker, r):
    now = time.time()
    broker.sends.enqueue([msg(1, eta=now + 0.3), msg(2, eta=now + 3600), msg(3, eta=now - 1)])
    assert broker.controls.queue_length("default") == 1  # the one already due went straight to the queue
    assert broker.scheduled.count() == 2
    first = broker.leases.maintain()
    assert first.promoted == 0 and first.next_due == pytest.approx(now + 0.3, abs=0.01)
    r.zadd(broker.keys.scheduled, {r.zrange(broker.keys.scheduled, 0, 0)[0]: 0})  # make it due
    assert broker.leases.maintain().promoted == 1
    assert ids(take(broker)[1]) == ["id-1", "id-3"]  # by enqueue time: id-1 has waited longest
    assert broker.scheduled.count() == 1


def test_enqueue_is_idempotent_when_retried(broker):
    m = msg(1, enqueued_at=1000.0)
    broker.sends.enqueue([m])
    broker.sends.enqueue([m])  # a retry after a lost reply resends the same bytes
    assert broker.controls.queue_length("default") == 1


def test_wake_tokens_only_when_a_consumer_may_be_blocked(broker, r):
    broker.sends.enqueue([msg(i) for i in range(50)])
    assert r.llen(broker.keys.wake("default")) == 0  # nobody registered idle: nobody blocked
    r.hset(broker.keys.idle, "gone.", f"0|30000|{int(time.time() * 1000) - 60_000}|w0")
    r.rpush(broker.keys.idle_prefix + "default", "gone.")
    broker.sends.enqueue([msg(50)])
    assert r.llen(broker.keys.wake("default")) == 1  # a registration it could not use: wake anyway
    plan = broker.deliveries.plan(["default"])
    assert broker.deliveries.wait(plan, timeout=1)[0] == broker.keys.wake("default").encode()


def test_scripts_survive_a_flushed_script_cache(broker, r):
    broker.sends.enqueue([msg(1)])
    r.script_flush()
    broker.sends.enqueue([msg(2)])
    assert broker.controls.queue_length("default") == 2


def test_bulk_enqueue_is_one_call(broker, r):
    before = r.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
    broker.sends.enqueue([msg(i, queue=f"q{i % 3}") for i in range(3000)])
    after = r.info("commandstats")["cmdstat_evalsha"]["calls"]
    assert after - before == 1
    assert sum(broker.controls.queue_length(f"q{i}") for i in range(3)) == 3000


def test_a_large_fetch_is_not_limited_by_lua_unpack(broker, r):
    broker.sends.enqueue([msg(i) for i in range(5000)])
    _, got = take(broker, want=5000)
    assert len(got) == 5000
    assert r.hlen(broker.keys.inflight) == 5000 and r.zcard(broker.keys.leases) == 5000


def test_leases_are_timed_by_redis_not_by_the_worker(broker, r):
    broker.sends.enqueue([msg(1)])
    _, [d] = take(broker)
    seconds, micros = r.time()
    redis_now_ms = seconds * 1000 + micros // 1000
    assert r.zscore(broker.keys.leases, d.token) == pytest.approx(redis_now_ms + 30_000, abs=1000)


def test_an_unreadable_entry_goes_to_the_dead_letters_and_maintenance_goes_on(broker, r):
    broker.sends.enqueue([msg(1)])
    r.hset(broker.keys.inflight, "bad.token", "no header at all")
    r.zadd(broker.keys.leases, {"bad.token": 0})
    r.zadd(broker.keys.scheduled, {"x|default|not-a-score": 0, "also garbage": 0})
    result = broker.leases.maintain("w1")
    assert ("bad.token", "") in result.recovered  # '' = it went to the dead letters
    reasons = [json.loads(m)["reason"] for m in r.hvals(broker.keys.dead)]
    assert len(reasons) == 3 and all("unreadable entry" in why for why in reasons)
    assert broker.leases.maintain("w1").promoted == 0  # and it keeps working
    assert broker.controls.queue_length("default") == 1


def test_started_is_only_written_by_the_delivery_that_holds_the_task(broker, r):
    broker.sends.enqueue([msg(1)])
    _, [d] = take(broker)
    r.set(broker.keys.result("id-1"), '{"status":"SUCCESS"}')
    r.hdel(broker.keys.inflight, d.token)  # its lease ran out and another worker finished it
    assert broker.runs.started(d.token, "id-1", '{"status":"STARTED"}') is False
    assert r.get(broker.keys.result("id-1")) == b'{"status":"SUCCESS"}'


def test_a_buried_workflow_step_ends_what_follows_and_is_requeued_to_run_alone(broker, r):
    """bury (lua/dead.lua) marks the rest of the chain and the callbacks of the joins, outwards, in the
    same step; dead_requeue puts "alone" in front of the envelope, which decode reads as no workflow."""
    then = (Step("t.next", id="next"), ChainNode((Step("t.last", id="last"),)))
    outer = ChordSpec("outer", 2, Step("t.outer_cb", id="outer-cb"))
    options = MessageOptions(chain=then, chord=ChordSpec("inner", 3, Step("t.inner_cb", id="inner-cb"), after=outer))
    broker.sends.enqueue([Message(id="step", task="t.step", args=(1,), options=options), msg(2)])
    _, [step, plain] = take(broker)
    assert broker.runs.bury(step.token, "it cannot run") == (True, 0)
    assert broker.runs.bury(plain.token, "nor this") == (True, 0)
    for follower, task in [("next", "t.next"), ("last", "t.last"), ("inner-cb", "t.inner_cb"),
                           ("outer-cb", "t.outer_cb")]:
        doc = json.loads(r.get(broker.keys.result(follower)))
        assert doc["status"] == "REVOKED" and doc["task"] == task and doc["parent"] == "step"
        assert doc["reason"] == "not run: a step before it, t.step[step], was moved to the dead letters: it cannot run"
    assert r.get(broker.keys.result("step")) is None  # itself: a dead letter, as any other
    history = [(field, json.loads(doc)) for _, entry in r.xrange(broker.keys.history) for field, doc in entry.items()]
    assert sorted(doc["id"] for field, doc in history if field == b"r") == ["inner-cb", "last", "next", "outer-cb"]
    assert sorted(doc["id"] for field, doc in history if field == b"x") == ["id-2", "step"]
    records = {json.loads(v)["id"]: json.loads(v) for v in r.hvals(broker.keys.dead)}
    assert records["step"]["ended"] is True and "ended" not in records["id-2"]

    assert sorted(broker.dead.requeue(["step", "id-2"])) == ["id-2", "step"]
    wires = {w.split(b"|")[2]: w for w in r.zrange(broker.keys.queue("default"), 0, -1)}
    assert wires[b"step"].split(b"|", 4)[4].startswith(b'{"alone":1,"a":[1],')
    assert wires[b"id-2"] == records["id-2"]["message"].encode()  # deliveries were 0: unchanged
    alone = decode(wires[b"step"], "default", ("json",))
    assert alone.args == (1,) and alone.options.chain == () and alone.options.chord is None
    r.delete(broker.keys.queue("default"))
    r.zadd(broker.keys.queue("default"), {wires[b"step"]: 9})
    _, [again] = take(broker, first=10)
    broker.runs.bury(again.token, "buried again")  # alone: nothing to end, its followers keep their reason
    assert "it cannot run" in json.loads(r.get(broker.keys.result("last")))["reason"]
    assert "ended" not in json.loads(r.hget(broker.keys.dead, "step"))


def test_an_id_sent_compacted_is_looked_up_by_the_scripts_as_it_was_given(broker, r):
    """A UUID travels as 23 characters (header.compact_id); lua/lib/wire.lua gives the scripts back
    the id the revoked and expiry sets and the dead letters know it by."""
    revoked, expiring, buried = (str(uuid.uuid4()) for _ in range(3))
    broker.sends.enqueue([Message(id=revoked, task="t.noop"), Message(id=expiring, task="t.noop", expires_in=0),
                    Message(id=buried, task="t.noop")])
    assert all(revoked.encode() not in w and b"|~" in w for w in r.zrange(broker.keys.queue("default"), 0, -1))
    broker.controls.revoke([revoked], False)
    fetched = broker.deliveries.fetch(broker.deliveries.plan(["default"], "w.0.0."), 10, 0)
    assert sorted(task_id for task_id, *_ in fetched.revoked) == sorted([revoked, expiring])
    assert [decode(d.wire, "default", ("json",)).id for d in fetched.deliveries] == [buried]
    broker.runs.bury(fetched.deliveries[0].token, "it cannot run")
    assert [json.loads(v)["task_id"] for v in r.hvals(broker.keys.dead)] == [buried]
