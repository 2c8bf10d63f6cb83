"""JOBS["ENQUEUE_REPLICAS"]: the writes a failover must not undo (sends, revocations, pauses) return
only once that many replicas have them (jobs/engine/redis/replicas.py), on a real master and replica."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
import redis
from django.test import override_settings

from jobs import control
from jobs.engine.errors import BrokerUnavailable
from jobs.engine.setup import app as engine_app
from tests.servers import RunningServer, _until, start_redis
from tests.testapp import tasks


@pytest.fixture
def pair() -> Iterator[tuple[RunningServer, redis.Redis]]:
    """A master and a replica of it, in sync; the replica's client."""
    master = start_redis()
    replica = start_redis("--replicaof", master.host, str(master.port))
    client = redis.Redis.from_url(replica.url)
    try:
        _until("the replica in sync", lambda: client.info("replication")["master_link_status"] == "up", 30)
        yield master, client
    finally:
        os.kill(replica.pid, signal.SIGCONT)  # in case a test left it stopped
        client.close()
        replica.stop()
        master.stop()


def test_each_durable_write_is_on_the_replica_when_the_call_returns(pair):
    master, replica = pair
    with override_settings(JOBS={"BROKER_URL": master.url, "ENQUEUE_REPLICAS": 1, "ENQUEUE_TIMEOUT": 5}):
        keys = engine_app.current().broker.keys
        sent = []
        for i in range(30):  # no worker: each stays queued, and the replica must hold it already
            sent.append(tasks.add.delay(i, i).id)
            assert replica.zcard(keys.queue("default")) == i + 1
        later = tasks.add.apply_async((1, 1), countdown=600)
        assert replica.zcard(keys.scheduled) == 1
        unique = tasks.add.apply_async((2, 2), queue="other")
        assert replica.zcard(keys.queue("other")) == 1
        assert control.revoke([sent[0], later.id]) == 2
        assert {m.decode() for m in replica.zrange(keys.revoked, 0, -1)} >= {sent[0], later.id}
        assert control.pause("default") and replica.hexists(keys.paused, "default")
        assert control.resume("default") and not replica.hexists(keys.paused, "default")
        assert unique.id not in sent


def test_a_replica_that_does_not_confirm_makes_the_send_fail_clearly_and_a_repeat_adds_no_copy(pair):
    master, replica = pair
    replica_pid = replica.info("server")["process_id"]
    with override_settings(JOBS={"BROKER_URL": master.url, "ENQUEUE_REPLICAS": 1, "ENQUEUE_TIMEOUT": 1}):
        keys = engine_app.current().broker.keys
        os.kill(replica_pid, signal.SIGSTOP)
        try:
            with pytest.raises(BrokerUnavailable, match=r"0 of the 1 replica\(s\) ENQUEUE_REPLICAS asks for"):
                tasks.add.apply_async((3, 3), task_id="durable-1")
        finally:
            os.kill(replica_pid, signal.SIGCONT)
        # The write is on the master; sent again once the replica answers, it is not sent twice.
        assert tasks.add.apply_async((3, 3), task_id="durable-1").id == "durable-1"
        assert replica.zcard(keys.queue("default")) == 1
        assert redis.Redis.from_url(master.url).zcard(keys.queue("default")) == 1


def test_enqueue_replicas_is_a_count_checked_at_the_door():
    from jobs.engine.errors import ConfigurationError

    for bad in (-1, 101, 1.5, "2", float("nan")):
        with pytest.raises(ConfigurationError, match="ENQUEUE_REPLICAS"):
            with override_settings(JOBS={"ENQUEUE_REPLICAS": bad}):
                engine_app.current()
