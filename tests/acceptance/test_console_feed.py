"""What the console reads and does, with live workers: the counters a worker feeds, what it runs since
when, a worker stopped by its id, scheduled messages run or deleted now, dead letters requeued or
discarded (jobs.control)."""

from __future__ import annotations

import pytest

from jobs import control
from jobs.engine.setup import app as engine_app
from jobs.engine.wire.message import Message
from tests.redis_monitor import Monitor as RedisMonitor
from tests.testapp import tasks

pytestmark = pytest.mark.django_db


def test_a_live_worker_feeds_the_counters_and_shows_what_it_runs_since_when(start_worker, redis_server, r):
    watch = RedisMonitor(redis_server.port)
    try:
        start_worker("-c", "1", "-n", "feed")
        for i in range(3):
            assert tasks.add.delay(i, i).get(timeout=10) == 2 * i
        tasks.fail.delay("boom").get(timeout=10, propagate=False)
        # The batch with the failure, the last outcome, carries every count before it too.
        watch.wait_for_line(r'"HINCRBY" "\{jobs\}:counts:feed\.\w+" "failed" "1"')
        running = tasks.block.delay("shown")
        r.blpop(["started:shown"], timeout=10)
        watch.wait_for_line(rf'"HSET" "\{{jobs\}}:running:feed\.\w+" "{running.id}"')
    finally:
        watch.close()
    monitor = control.monitor()
    [worker] = monitor.workers()
    assert (worker.hostname, worker.processed, worker.failed) == ("feed", 4, 1)
    figures = {m.task: m for m in monitor.task_metrics(5)}
    add, fail = figures["tests.testapp.tasks.add"], figures["tests.testapp.tasks.fail"]
    assert (add.succeeded, add.failed, add.runs) == (3, 0, 3) and 0 < add.p50 <= add.p99 < 1
    assert (fail.succeeded, fail.failed) == (0, 1)
    assert tuple(map(sum, zip(*[m[1:] for m in monitor.throughput(5)], strict=True))) == (3, 1)
    assert sum(p.succeeded for p in monitor.task_timeline("tests.testapp.tasks.add", 5)) == 3
    [default] = [q for q in monitor.queue_details() if q.name == "default"]
    assert default.consumers == ["feed"] and default.throughput > 0 and default.length == 0
    [held] = monitor.active()
    assert (held.id, held.worker, held.worker_id) == (running.id, "feed", worker.id)
    seconds, micros = r.time()
    assert held.started_at is not None and 0 <= seconds + micros / 1e6 - held.started_at < 10
    assert control.active()[0]["started_at"] == held.started_at  # and JSON-ready (no bytes)
    r.rpush("release:shown", 1)
    assert running.get(timeout=10) == "shown"


def test_shutdown_stops_one_worker_as_sigterm_does_while_another_keeps_working(start_worker, r):
    target = start_worker("-Q", "a", "-c", "1", "-n", "target")
    other = start_worker("-c", "1", "-n", "other")
    running = tasks.block.apply_async(("finishing",), queue="a")
    r.blpop(["started:finishing"], timeout=10)
    [target_id] = [w["id"] for w in control.workers() if w["hostname"] == "target"]
    assert control.shutdown(target_id)
    target.wait_for("Asked to stop")
    target.wait_for("Warm shutdown")
    assert target.proc.poll() is None  # its running task finishes first
    r.rpush("release:finishing", 1)
    assert running.get(timeout=10) == "finishing"
    assert target.wait(30) == 0
    assert "handed back" not in target.output
    assert other.proc.poll() is None and tasks.add.delay(1, 2).get(timeout=10) == 3
    assert [w["hostname"] for w in control.workers()] == ["other"]
    assert not control.shutdown(target_id) and not r.exists(engine_app.current().keys.shutdown)


def test_scheduled_messages_run_now_or_are_deleted(start_worker, r):
    start_worker("-c", "1")
    later = tasks.add.apply_async((2, 3), countdown=600)
    unwanted = tasks.add.apply_async((1, 1), eta=None, countdown=900)
    assert [h["id"] for h in control.scheduled(1, 1)] == [unwanted.id]
    assert control.run_scheduled([later.id, "no-such-id"]) == 1
    assert later.get(timeout=10) == 5
    assert control.run_scheduled([later.id]) == 0  # not twice
    assert control.delete_scheduled([unwanted.id]) == 1
    assert control.scheduled() == [] and engine_app.current().broker.controls.queue_length("default") == 0


def test_dead_letters_found_by_filter_requeued_or_discarded(start_worker, r):
    broker = engine_app.current().broker
    for i, task in enumerate(["tests.testapp.tasks.add", "tests.testapp.tasks.add", "tests.testapp.tasks.noop"]):
        broker.sends.enqueue([Message(id=f"dead-{i}", task=task, args=(i, 1) if "add" in task else (), queue="parked")])
        [d] = broker.deliveries.fetch(broker.deliveries.plan(["parked"], f"test.{i}."), 1, 0).deliveries
        broker.runs.bury(d.token, "set aside by the test")
    letters, more = control.dead_letters(1, 0, reason="ASIDE", task="add")
    assert [d.id for d in letters] == ["dead-1"] and more
    assert control.dead_letters(10, 1, task="add")[0][0].id == "dead-0"
    start_worker("-Q", "parked", "-c", "1")
    assert control.requeue_dead(["dead-1"]) == 1
    assert tasks.add.AsyncResult("dead-1").get(timeout=10) == 2
    assert control.discard_dead(["dead-0", "dead-1"]) == 1
    assert [d.id for d in control.dead_letters()[0]] == ["dead-2"]
