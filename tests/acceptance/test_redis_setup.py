"""A Redis that would lose tasks is refused, not trusted: one that evicts keys under memory pressure
deletes queues silently (shown here first), so `manage.py check`, runworker, runbeat and
`jobs status` each say so and what to set."""

import io

import pytest
import redis
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from jobs.devserver import RedisServer
from jobs.engine.setup import app as engine_app
from tests.testapp import tasks


@pytest.fixture
def evicting():
    server = RedisServer().start()
    client = redis.Redis.from_url(server.url)
    client.config_set("maxmemory", "4mb")
    client.config_set("maxmemory-policy", "allkeys-lru")
    with override_settings(JOBS={"BROKER_URL": server.url}):
        engine_app.reset()
        yield server, client
    engine_app.reset()
    server.cleanup()


def test_an_evicting_redis_deletes_queued_tasks_without_a_word(evicting):
    """Why it is refused: what an eviction does to a queue."""
    _, client = evicting
    results = [tasks.add.delay(i, i) for i in range(300)] + [tasks.add.apply_async((i, i), countdown=3600)
                                                             for i in range(300)]
    broker = engine_app.current().broker
    assert broker.controls.queue_length("default") == 300 and broker.scheduled.count() == 300
    filler = "x" * 100_000
    for i in range(200):  # another client of the same Redis fills its memory
        client.set(f"cache:{i}", filler)
    assert broker.controls.queue_length("default") + broker.scheduled.count() < 600  # gone, and nobody was told
    assert results[0].status == "PENDING"


def test_check_reports_an_evicting_redis_as_an_error_that_says_what_to_set(evicting):
    with pytest.raises(SystemCheckError) as error:
        call_command("check")
    text = str(error.value)
    assert "jobs.E002" in text and "maxmemory-policy allkeys-lru" in text
    assert "maxmemory-policy noeviction" in text and "ALLOW_EVICTION" in text


def test_volatile_policies_are_refused_too(evicting):
    _, client = evicting
    client.config_set("maxmemory-policy", "volatile-ttl")
    with pytest.raises(SystemCheckError, match="keys with an expiry"):
        call_command("check")


def test_worker_and_beat_refuse_to_start_on_it(evicting, start_worker, start_beat):
    server, _ = evicting
    worker = start_worker("-c", "1", ready=False, env={"JOBS_BROKER_URL": server.url})
    assert worker.wait(30) != 0
    assert "evicts keys" in worker.output and "The worker does not start on it." in worker.output
    with pytest.raises(AssertionError, match="The beat does not start on it"):
        start_beat(settings={"BROKER_URL": server.url})


def test_status_says_it(evicting):
    out = io.StringIO()
    call_command("jobs", "status", stdout=out, stderr=out)
    assert "ERROR: Redis at" in out.getvalue() and "noeviction" in out.getvalue()


def test_allow_eviction_accepts_the_risk_with_a_warning(evicting, start_worker):
    server, _ = evicting
    worker = start_worker("-c", "1", settings={"ALLOW_EVICTION": True}, env={"JOBS_BROKER_URL": server.url})
    assert "JOBS['ALLOW_EVICTION'] accepts that risk" in worker.output
    with override_settings(JOBS={"BROKER_URL": server.url, "ALLOW_EVICTION": True}):
        call_command("check")  # warnings only


def test_a_redis_without_persistence_is_a_warning(redis_server):
    with override_settings(JOBS={}):
        out = io.StringIO()
        call_command("check", stdout=out, stderr=out)
        assert "jobs.W003" in out.getvalue() and "appendonly yes" in out.getvalue()
