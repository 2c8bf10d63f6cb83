"""A send repeated (delay() after a lost reply, or on purpose) adds nothing, whatever became of the
first copy, through every door a producer sends by; what reuses an id on purpose (a retry, a dead
letter requeued) is not checked. Against a real Redis; the first copy is taken as a worker would."""

import uuid

import pytest

from jobs.engine.errors import ConfigurationError
from jobs.engine.redis.broker import Broker
from jobs.engine.redis.deliveries import Ack
from jobs.engine.setup.config import Config
from jobs.engine.wire.header import compact_id
from jobs.engine.wire.message import Message


@pytest.fixture
def broker(redis_server):
    return Broker(Config(broker_url=redis_server.url))


def msg(i, **kw):
    return Message(id=f"id-{i}", task="t.noop", args=(i,), enqueued_at=1000.0 + i, **kw)


def taken(broker, want=10):
    """Take what waits on `default` (a fetch, as a worker's) and acknowledge it: the first copies ran."""
    fetched = broker.deliveries.fetch(broker.deliveries.plan(["default"], "w.0.0."), want, 0)
    broker.deliveries.ack([Ack(d.token, d.wire.split(b"|")[2].decode(), "") for d in fetched.deliveries])
    return len(fetched.deliveries)


def test_a_send_repeated_after_its_first_copy_ran_adds_nothing(broker, r):
    one = Message(id=str(uuid.uuid4()), task="t.noop")
    broker.sends.enqueue([one])
    assert taken(broker) == 1
    broker.sends.enqueue([one])  # the fast path (_enqueue_one), as delay() retries it
    assert broker.controls.queue_length("default") == 0 and r.hlen(broker.keys.inflight) == 0
    mark = broker.keys.sent(compact_id(one.id))  # one key per id, as the wire spells it
    assert r.get(mark) == b"1" and 59_000 < r.pttl(mark) <= 60_000  # SEND_DEDUP_SECONDS: a minute


def test_a_batch_repeated_adds_only_the_ids_it_did_not_send(broker):
    broker.sends.enqueue([msg(1), msg(2)])
    assert taken(broker) == 2
    broker.sends.enqueue([msg(1), msg(2), msg(3), msg(3)])  # an id twice in one call: once
    assert broker.controls.queue_length("default") == 1 and taken(broker) == 1


def test_a_delayed_send_repeated_adds_nothing(broker, r):
    broker.sends.enqueue([msg(1, countdown=3600), msg(2, expires_in=60)])
    assert broker.scheduled.count() == 1 and r.zcard(broker.keys.expiries) == 1
    r.delete(broker.keys.scheduled, broker.keys.queue("default"))  # promoted, taken and run
    r.zadd(broker.keys.expiries, {"id-2": 1})
    broker.sends.enqueue([msg(1, countdown=3600), msg(2, expires_in=60)])
    assert broker.scheduled.count() == 0 and broker.controls.queue_length("default") == 0
    assert r.zscore(broker.keys.expiries, "id-2") == 1  # not written again either


def test_records_are_written_once(broker, r):
    """The django.tasks backend's READY record rides with its message, or alone after a unique send."""
    broker.sends.enqueue([msg(1)], records=[("attempts:1", "ready")])
    broker.sends.enqueue([msg(1)], records=[("attempts:1", "ready")])
    broker.sends.enqueue([], records=[("attempts:2", "ready")])
    broker.sends.enqueue([], records=[("attempts:2", "ready")])
    assert r.lrange("attempts:1", 0, -1) == [b"ready"] and r.lrange("attempts:2", 0, -1) == [b"ready"]


def test_a_unique_send_repeated_after_its_run_released_the_lock_adds_nothing(broker, r):
    lock = broker.keys.unique("t.noop", "k")
    assert broker.sends.enqueue_unique(msg(1), lock, 60_000) == "id-1"
    assert broker.sends.enqueue_unique(msg(1), lock, 60_000) == "id-1"  # still waiting: the lock says so
    assert taken(broker) == 1
    r.delete(lock)  # its run ended (the ack releases it: worker/followup.py `u`)
    assert broker.sends.enqueue_unique(msg(1), lock, 60_000) == "id-1"
    assert broker.controls.queue_length("default") == 0 and not r.exists(lock)  # nor is the lock held for it
    assert broker.sends.enqueue_unique(msg(2), lock, 60_000) == "id-2" and broker.controls.queue_length("default") == 1
    r.delete(lock)
    assert broker.sends.enqueue_unique(msg(3), lock, 60_000) == "id-3"
    assert broker.sends.enqueue_unique(msg(4), lock, 60_000) == "id-3"  # refused by the lock: 4 not remembered
    assert not r.exists(broker.keys.sent("id-4"))


def test_an_id_is_remembered_for_send_dedup_seconds_then_forgotten(redis_server, r):
    broker = Broker(Config(broker_url=redis_server.url, enqueue_timeout=1, send_dedup_seconds=2))
    broker.sends.enqueue([msg(1)])
    assert 1_900 < r.pttl(broker.keys.sent("id-1")) <= 2_000
    assert taken(broker) == 1
    r.delete(broker.keys.sent("id-1"))  # as its expiry does once the 2 s have passed
    broker.sends.enqueue([msg(1)])
    assert broker.controls.queue_length("default") == 1


def test_what_reuses_an_id_on_purpose_is_not_checked(broker, r):
    """A retry is scheduled by the ack, and a dead letter requeued by its own script: both run."""
    broker.sends.enqueue([msg(1), msg(2)])
    fetched = broker.deliveries.fetch(broker.deliveries.plan(["default"], "w.0.0."), 10, 0)
    first, second = fetched.deliveries
    retry = msg(1, retries=1)
    assert broker.deliveries.ack([Ack(first.token, "id-1", "", retry_delay_ms=0, retry_member=retry.entry())]) == []
    assert broker.scheduled.count() == 1
    assert broker.runs.bury(second.token, "it cannot run") == (True, 0)
    assert broker.dead.requeue(["id-2"]) == ["id-2"]
    assert broker.controls.queue_length("default") == 1


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 9.0, 31 * 86400.0, -1.0])
def test_send_dedup_seconds_is_bounded(value):
    with pytest.raises(ConfigurationError, match=r"JOBS\['SEND_DEDUP_SECONDS'\] must be"):
        Config(send_dedup_seconds=value)
