"""A call that ran in Redis but whose reply never arrived, at each step of a task's way: every
protocol (registration and hand-off, fetch, ack) must come out of it with nothing lost or run twice.
The faults are real: a loopback proxy (tests/faults.py) forwards the command, then breaks the
connection instead of passing the reply on."""

import pytest

from jobs.engine.redis import scripts
from jobs.engine.setup import app as engine_app
from tests.faults import FaultProxy, script
from tests.testapp import tasks

FAST = {"LEASE_SECONDS": 2}


def broker():
    return engine_app.current().broker


@pytest.fixture
def proxy(redis_server, r):
    for name in ("fetch", "ack", "maintain", "renew"):  # so that the first call is not a NOSCRIPT
        r.script_load(scripts.load(name).source)
    proxy = FaultProxy(redis_server.port).start()
    yield proxy
    proxy.stop()


def test_a_lost_reply_to_the_fetch_that_registers_an_idle_consumer_loses_nothing(start_worker, proxy, r):
    """The registration happened; the consumer never heard. A message handed to it meanwhile must
    run once, under the token it was leased with, and promptly (not after its lease runs out)."""
    proxy.lose_reply(script("fetch"), then_hold=True)  # the consumer's first fetch registers it idle
    worker = start_worker("-c", "1", settings=FAST, env={"JOBS_BROKER_URL": proxy.url})
    proxy.wait_fired()
    assert r.hlen(broker().keys.idle) == 1  # registered in Redis, though the consumer does not know
    result = tasks.record.delay("handed", "once")
    assert r.hlen(broker().keys.idle) == 0 and broker().deliveries.inflight_count() == 1  # handed to it
    proxy.release()
    assert result.get(timeout=1.5) == "once"  # well within the 2 s lease
    assert r.llen("handed") == 1
    assert "refused" not in worker.output
    assert broker().deliveries.inflight_count() == 0 and broker().controls.queue_length("default") == 0


def test_a_result_lost_to_a_redis_restart_without_persistence_is_a_warning_with_the_task_id(
        start_worker, proxy, redis_server, r):
    worker = start_worker("-c", "1", settings=FAST, env={"JOBS_BROKER_URL": proxy.url})
    result = tasks.announce_then_nap.delay(redis_server.url, "restart", 0.3)
    r.blpop(["started:restart"], timeout=10)
    proxy.hold()  # its ack waits in the proxy while Redis crashes and comes back empty
    redis_server.kill()
    redis_server.start()
    proxy.release()
    line = worker.wait_for("its result could not be stored")
    assert result.id in line and "WARNING" in line and "stays PENDING" in line
    assert result.status == "PENDING"
