"""Redis going away, restarting, pausing, and a worker frozen past its lease."""

import json
import os
import signal
import threading
import time

import pytest

from jobs.devserver import RedisServer
from jobs.engine.redis.broker import Broker
from jobs.engine.setup import app as engine_app
from jobs.exceptions import BrokerUnavailable
from tests.testapp import tasks


def broker():
    return engine_app.current().broker


def test_delay_raises_broker_unavailable_within_the_enqueue_timeout(redis_server):
    redis_server.stop()
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="Redis did not answer for 2 s"):
        tasks.add.delay(1, 1)
    assert time.monotonic() - started < 2 + 2.5  # ENQUEUE_TIMEOUT is 2 s in the test settings
    redis_server.start()


def test_a_worker_rides_out_an_outage_with_one_line_per_process(start_worker, redis_server):
    worker = start_worker("-c", "2")
    redis_server.stop()
    worker.wait_for("Redis call failed")
    outage_started = len(worker.lines)
    time.sleep(3)  # the outage itself: the subject of this test, not a wait for an event
    redis_server.start()
    worker.wait_for("works again", after=outage_started)
    assert tasks.add.delay(20, 22).get(timeout=30) == 42
    failed = [line for line in worker.lines if "Redis call failed" in line]
    assert 1 <= len(failed) <= 3  # two consumers and the supervisor: no flood, no tight loop
    assert worker.proc.poll() is None


def test_acknowledged_tasks_stay_done_across_a_redis_crash_with_aof(start_worker, r):
    server = RedisServer(appendonly=True).start()
    try:
        env = {"JOBS_BROKER_URL": server.url}
        from django.test import override_settings

        with override_settings(JOBS={"BROKER_URL": server.url}):
            worker = start_worker("-c", "1", env=env)
            assert tasks.record.delay("done", "before").get(timeout=10) == "before"
            later = tasks.record.apply_async(("done", "later"), countdown=3600)
            other = tasks.send_welcome.delay(9)  # a queue no worker serves
            server.kill()  # kill -9: only what was fsynced survives (appendfsync always)
            server.start()
            worker.wait_for("works again", timeout=30)
            assert tasks.record.delay("done", "after").get(timeout=20) == "after"
            evidence = __import__("redis").Redis.from_url(server.url)
            runs = [v.split(b":")[0] for v in evidence.lrange("done", 0, -1)]
            assert runs == [b"before", b"after"]  # `before` was not run again
            assert broker().scheduled.count() == 1 and broker().controls.queue_length("emails") == 1
            assert later.status == "PENDING" and other.status == "PENDING"
    finally:
        server.cleanup()


def test_a_client_pause_shorter_than_the_lease_runs_nothing_twice(start_worker, redis_server, r):
    """However many other workers' maintenance calls run after the pause before the holder can
    renew (the proxy holds its renewal back), none may take its task."""
    from tests.faults import FaultProxy

    proxy = FaultProxy(redis_server.port).start()
    try:
        start_worker("-c", "1", settings={"LEASE_SECONDS": 3}, env={"JOBS_BROKER_URL": proxy.url})
        result = tasks.block.delay("paused")
        r.blpop(["started:paused"], timeout=10)
        # The worst case a renewal every LEASE/3 allows: last renewed 1 s ago, 2 s of lease left.
        seconds, micros = r.time()
        [token] = r.zrange(broker().keys.leases, 0, -1)
        r.zadd(broker().keys.leases, {token: seconds * 1000 + micros // 1000 + 2000}, xx=True)
        proxy.hold()  # the holder cannot renew until after both maintenance calls below
        r.execute_command("CLIENT", "PAUSE", 2800, "ALL")  # longer than what is left, shorter than the lease
        # Two other workers' maintenance, queued during the pause, run as soon as it ends. Redis's
        # clock moved 2.8 s meanwhile.
        seen = []
        patient = Broker(engine_app.current().config.replace(enqueue_timeout=10))
        rescuers = [threading.Thread(target=lambda name=name: seen.append(patient.leases.maintain(name)))
                    for name in ("rescuer-1", "rescuer-2")]
        for rescuer in rescuers:
            rescuer.start()
            rescuer.join(10)
        proxy.release()
        assert len(seen) == 2 and seen[0].recovered == [] and seen[1].recovered == []
        r.rpush("release:paused", 1)
        assert result.get(timeout=20) == "paused"
        assert r.lrange("deliveries:paused", 0, -1) == [b"1"]
    finally:
        proxy.stop()


def test_a_worker_frozen_past_its_lease_cannot_store_a_result(start_worker, r):
    fast = {"LEASE_SECONDS": 2}
    frozen = start_worker("-c", "1", "-n", "frozen", settings=fast)
    result = tasks.block.delay("frozen")
    _, child = r.blpop(["started:frozen"], timeout=10)
    for pid in (frozen.pid, int(child)):
        frozen_pid = pid
        __import__("os").kill(frozen_pid, signal.SIGSTOP)  # as a long GC pause or a partition would
    try:
        start_worker("-c", "1", "-n", "rescuer", settings=fast)
        r.blpop(["started:frozen"], timeout=20)  # the lease ran out; the rescuer runs it
        r.rpush("release:frozen", 1, 1)  # one for each run
        assert result.get(timeout=10) == "frozen"
        stored = json.loads(r.get(broker().keys.result(result.id)))
        assert stored["worker"] == "rescuer"
    finally:
        for pid in (frozen.pid, int(child)):
            __import__("os").kill(pid, signal.SIGCONT)
    frozen.wait_for("was refused", timeout=20)  # the frozen run finished, and was fenced
    stored = json.loads(r.get(broker().keys.result(result.id)))
    assert stored["worker"] == "rescuer" and r.lrange("deliveries:frozen", 0, -1) == [b"1", b"2"]


def test_a_frozen_worker_does_not_run_its_prefetched_tasks_again(start_worker, r):
    """It froze holding 10 prefetched tasks; another worker ran them meanwhile. After it wakes it
    must know its leases are gone before it starts any, acks_late=False ones included. (Its
    supervisor would give them back as soon as `block` had run 20 ms; with WORKER_GIVE_BACK_AFTER
    None they stay in the buffer, as they would if the whole worker froze mid-batch.)"""
    fast = {"LEASE_SECONDS": 2}
    frozen_settings = {**fast, "WORKER_GIVE_BACK_AFTER": None}
    tasks.block.delay("ahead")  # the frozen worker's running task; the rest wait in its buffer
    late = [tasks.record.delay("ran", i) for i in range(5)]
    for i in range(5):
        tasks.record_early.delay("ran-early", i)
    frozen = start_worker("-c", "1", "--prefetch", "10", "-n", "frozen", settings=frozen_settings)
    _, child = r.blpop(["started:ahead"], timeout=10)
    assert broker().deliveries.inflight_count() == 11 and broker().controls.queue_length("default") == 0
    pids = (frozen.pid, int(child))
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        start_worker("-c", "2", "-n", "rescuer", settings=fast)
        assert [result.get(timeout=30) for result in late] == list(range(5))
        r.blpop(["started:ahead"], timeout=10)
        for i in range(5):
            assert r.blpop(["ran-early"], timeout=10)[1].startswith(f"{i}:".encode())
        r.rpush("release:ahead", 1, 1)  # one for each run of `block`
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    lines = frozen.wait_count("lost its lease while it waited in this worker", 10)
    assert any("tests.testapp.tasks.record_early[" in line for line in lines)
    frozen.wait_for("was refused")  # `block`'s own end, fenced
    assert r.llen("ran") == 5 and r.llen("ran-early") == 0  # no second run of any of them
