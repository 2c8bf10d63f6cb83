"""Real workers, started as a user starts them, against the test session's private Redis."""

import datetime as dt
import json
import signal
import time

import pytest

from jobs import AsyncResult
from jobs.engine.ops.monitor import Monitor
from jobs.engine.setup import app as engine_app
from jobs.engine.wire.message import Message
from jobs.exceptions import EncodeError, WorkerLostError
from tests.conftest import pid_alive
from tests.testapp import tasks

FAST = {"LEASE_SECONDS": 2}


def broker():
    return engine_app.current().broker


@pytest.mark.parametrize("pool", ["prefork", "threads", "solo"])
def test_round_trip(start_worker, pool):
    worker = start_worker("-P", pool, "-c", "2")
    assert tasks.add.delay(2, 3).get(timeout=10) == 5
    with pytest.raises(tasks.PaymentDeclined, match="card declined"):
        tasks.fail.delay("card declined").get(timeout=10)
    me = tasks.whoami.apply_async(queue="default").get(timeout=10)
    assert me["queue"] == "default" and me["delivery_count"] == 1 and me["hostname"]
    assert f"pool      {pool}" in worker.output


def test_many_tasks_and_their_results(start_worker):
    start_worker("-c", "2")
    results = [tasks.add.delay(i, i) for i in range(300)]
    assert [res.get(timeout=20) for res in results] == [2 * i for i in range(300)]
    assert broker().deliveries.inflight_count() == 0


@pytest.mark.parametrize("pool", ["prefork", "threads", "solo"])
def test_what_waits_behind_a_long_task_goes_back_and_another_worker_runs_it(start_worker, r, pool):
    """A new consumer takes a full batch: the long task and the five behind it. Once the long one has
    run WORKER_GIVE_BACK_AFTER, those go back to their queue, and a second worker runs them while the
    first is still busy. Without the give-back they would wait for the long task; taken back, none
    may run twice either."""
    long = tasks.block.delay("long")
    behind = [tasks.record.delay("ran", i) for i in range(5)]
    first = start_worker("-P", pool, "-c", "1", "-l", "DEBUG")
    r.blpop(["started:long"], timeout=10)
    first.wait_for(r"gave back 5 task\(s\) waiting behind a long one")
    second = start_worker("-c", "1", "-n", "second")
    ran = [r.blpop(["ran"], timeout=10) for _ in range(5)]
    assert None not in ran, "a task waited behind the long one"
    values = sorted(int(v.decode().split(":")[0]) for _, v in ran)
    assert values == [0, 1, 2, 3, 4] and r.llen("finished:long") == 0
    assert {v.decode().split(":")[1] for _, v in ran} == {str(pid) for pid in second.children()}  # not the first's
    r.rpush("release:long", 1)
    assert long.get(timeout=10) == "long"
    assert [res.get(timeout=10) for res in behind] == [0, 1, 2, 3, 4]  # stored with their acks
    assert broker().deliveries.inflight_count() == 0 and r.llen("ran") == 0


def test_a_consumer_killed_mid_batch_runs_none_of_its_finished_tasks_again_but_the_last_ms(
        start_worker, redis_server, r):
    """The consumer takes all eleven at once; the sixth ends its process. The five before it ran
    10 ms each, longer than ACK_DELAY, so each one's ack was sent before the next started: only
    the one that killed it fails (WorkerLostError), and the five after it are handed back and run
    by the next consumer. Each of the others runs once."""
    before = [tasks.announce_then_nap.delay(redis_server.url, f"n{i}", 0.01) for i in range(5)]
    killer = tasks.crash.delay("mid-batch")
    after = [tasks.announce_then_nap.delay(redis_server.url, f"n{i}", 0.01) for i in range(5, 10)]
    start_worker("-c", "1")
    assert [res.get(timeout=20) for res in before + after] == [f"n{i}" for i in range(10)]
    with pytest.raises(WorkerLostError):
        killer.get(timeout=10)
    assert [r.llen(f"started:n{i}") for i in range(10)] == [1] * 10


def test_acks_are_sent_before_a_task_not_known_to_be_short(start_worker, r):
    """Five short tasks, then one never seen before that ends its process (as a hard time limit
    does): the five's acks would wait for the next fetch behind short tasks, but not behind this
    one, so none of them runs twice."""
    before = [tasks.record.delay("ran", i) for i in range(5)]
    killer = tasks.crash.delay("unknown")
    start_worker("-c", "1")
    assert [res.get(timeout=20) for res in before] == list(range(5))
    with pytest.raises(WorkerLostError):
        killer.get(timeout=10)
    assert sorted(int(v.decode().split(":")[0]) for v in r.lrange("ran", 0, -1)) == list(range(5))


def test_countdown_and_eta_wait_in_redis(start_worker, r):
    start_worker("-P", "solo")
    sent = time.time()
    later = tasks.add.apply_async((1, 1), countdown=1)
    at = tasks.add.apply_async((2, 2), eta=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1.5))
    assert broker().scheduled.count() == 2 and later.status == "PENDING"
    assert later.get(timeout=10) == 2 and at.get(timeout=10) == 4
    assert later.date_done.timestamp() - sent >= 1.0 and at.date_done.timestamp() - sent >= 1.5


def test_a_worker_consumes_only_the_queues_it_was_given(start_worker):
    start_worker("-Q", "emails", "-P", "solo")
    first = tasks.add.delay(1, 1)  # default queue, enqueued first
    assert tasks.send_welcome.delay(7).get(timeout=10) == 7
    assert first.status == "PENDING" and broker().controls.queue_length("default") == 1


def test_failures_are_stored_with_type_message_and_traceback(start_worker):
    start_worker("-P", "solo")
    failed = tasks.fail.delay("insufficient funds")
    assert failed.get(timeout=10, propagate=False).args == ("insufficient funds",)
    assert failed.status == "FAILURE" and failed.failed()
    assert "raise PaymentDeclined(message)" in failed.traceback
    unencodable = tasks.returns_a_set.delay()
    with pytest.raises(EncodeError, match="returned a set that the json result serializer cannot carry"):
        unencodable.get(timeout=10)


def test_track_started_shows_started_while_running(start_worker, r):
    start_worker("-P", "solo")
    result = tasks.tracked.delay("t1")
    r.blpop(["started:t1"], timeout=10)
    assert result.status == "STARTED"
    r.rpush("release:t1", 1)
    assert result.get(timeout=10) == "t1" and result.status == "SUCCESS"


def test_ignore_result_stores_none(start_worker, r):
    start_worker("-P", "solo")
    ignored = tasks.ignored.delay("x")
    tasks.add.delay(0, 0).get(timeout=10)  # one consumer, FIFO: the ignored task was settled before
    assert r.lrange("ignored", 0, -1) == [b"x"]
    assert not r.exists(broker().keys.result(ignored.id)) and ignored.status == "PENDING"
    assert broker().deliveries.inflight_count() == 0


def test_kill_9_mid_task_the_task_completes_once_on_another_worker(start_worker, r):
    first = start_worker("-c", "1", settings=FAST)
    result = tasks.block.delay("k9")
    _, child = r.blpop(["started:k9"], timeout=10)
    first.kill9()
    assert not pid_alive(int(child)) or _wait_dead(int(child))  # the child died with its parent
    second = start_worker("-c", "1", settings=FAST)
    _, child2 = r.blpop(["started:k9"], timeout=20)  # the lease ran out; the task is offered again
    assert second.wait_for("had lost its lease")
    r.rpush("release:k9", 1)
    assert result.get(timeout=10) == "k9"
    assert r.lrange("finished:k9", 0, -1) == [child2]  # finished once, by the second worker
    assert r.lrange("deliveries:k9", 0, -1) == [b"1", b"2"]
    assert broker().deliveries.inflight_count() == 0


def _wait_dead(pid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.01)  # process death has no event we can await from here
    return False


def test_acks_late_false_is_at_most_once(start_worker, r):
    worker = start_worker("-c", "1", settings=FAST)
    result = tasks.block_early_ack.delay("early")
    r.blpop(["started:early"], timeout=10)
    [entry] = r.hvals(broker().keys.inflight)
    assert entry.startswith(b"!")  # acknowledged as it started; still leased while it runs
    worker.kill9()
    rescuer = start_worker("-c", "1", settings=FAST)
    rescuer.wait_for("had lost its lease .* dead letters")  # its maintenance found the lease run out
    letter = Monitor(broker()).dead_letter(result.id)
    assert "acks_late=False" in letter.reason and "not run again" in letter.reason
    assert broker().controls.queue_length("default") == 0 and broker().deliveries.inflight_count() == 0
    assert r.llen("started:early") == 0  # it never ran a second time


def test_an_acks_late_false_task_whose_early_ack_is_refused_does_not_run(r):
    """Its lease ran out between the fetch and the start (checked just before): another worker has
    it, so it must not run here, though it never reached its ack (at most once)."""
    from jobs.engine.worker.delivery import DeliveryHandler

    app = engine_app.current()
    result = tasks.record_early.delay("refused", 1)
    [delivery] = app.broker.deliveries.fetch(app.broker.deliveries.plan(["default"], "t.0.0."), 1, 0).deliveries
    r.hdel(app.broker.keys.inflight, delivery.token)  # as maintain.lua does when the lease runs out
    assert DeliveryHandler(app, "test").handle(delivery) is None
    assert r.llen("refused") == 0 and result.status == "PENDING"


def test_warm_shutdown_lets_a_running_task_finish(start_worker, r):
    worker = start_worker("-c", "1")
    result = tasks.block.delay("warm")
    r.blpop(["started:warm"], timeout=10)
    worker.signal(signal.SIGTERM)
    worker.wait_for("Warm shutdown")
    r.rpush("release:warm", 1)
    assert worker.wait(20) == 0
    assert result.get(timeout=5) == "warm"
    assert broker().controls.queue_length("default") == 0 and broker().deliveries.inflight_count() == 0


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_an_idle_worker_stops_quietly(start_worker, r, pool):
    """Its consumers are blocked waiting for work; stop() ends each wait by shutting its socket,
    which is the stop, not Redis failing: no error is logged for it."""
    worker = start_worker("-c", "2", "-P", pool)
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0
    assert "Redis call failed" not in worker.output and "ERROR" not in worker.output


def test_warm_shutdown_hands_back_what_did_not_finish_in_time(start_worker, r):
    worker = start_worker("-c", "1", "--shutdown-timeout", "0.5")
    result = tasks.block.delay("slow")
    r.blpop(["started:slow"], timeout=10)
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0
    assert "1 unfinished task(s) handed back" in worker.output
    assert broker().controls.queue_length("default") == 1 and broker().deliveries.inflight_count() == 0
    start_worker("-c", "1")
    r.blpop(["started:slow"], timeout=10)
    r.rpush("release:slow", 1)
    assert result.get(timeout=10) == "slow"


@pytest.mark.parametrize("pool", ["prefork", "threads", "solo"])
def test_second_signal_is_a_cold_shutdown_that_still_hands_back(start_worker, r, pool):
    worker = start_worker("-P", pool, "-c", "1")
    tasks.block.delay("cold")
    r.blpop(["started:cold"], timeout=10)
    worker.signal(signal.SIGINT)
    worker.wait_for("Warm shutdown")  # the first signal was seen: two quick signals may merge into one
    worker.signal(signal.SIGINT)
    worker.wait(20)
    assert broker().controls.queue_length("default") == 1 and broker().deliveries.inflight_count() == 0


def test_unknown_task_is_kept_and_offered_again(start_worker, r):
    worker = start_worker("-P", "solo")
    broker().sends.enqueue([Message(id="u1", task="shop.not_deployed_yet", args=(1,))])
    worker.wait_for("shop.not_deployed_yet.*not registered in this worker")
    assert broker().scheduled.count() == 1 and broker().deliveries.inflight_count() == 0


def test_an_undecodable_message_goes_to_the_dead_letters(start_worker, r):
    worker = start_worker("-P", "solo")
    r.zadd(broker().keys.queue("default"), {b"garbage that is no message": 9})
    r.rpush(broker().keys.wake("default"), 1)
    worker.wait_for("moved to the dead letters")
    [record] = r.hvals(broker().keys.dead)
    record = json.loads(record)
    assert record["message"] == "garbage that is no message" and "bad header" in record["reason"]
    assert tasks.add.delay(1, 2).get(timeout=10) == 3  # and the worker goes on


def test_banner_hides_the_password(start_worker, redis_server, r):
    r.config_set("requirepass", "s3cret")
    try:
        url = f"redis://:s3cret@127.0.0.1:{redis_server.port}/0"
        worker = start_worker("-P", "solo", env={"JOBS_BROKER_URL": url})
        assert f"redis://:***@127.0.0.1:{redis_server.port}/0" in worker.output
        assert "s3cret" not in worker.output
        assert "tests.testapp.tasks.add" in worker.output and "queues    default" in worker.output
    finally:
        r.config_set("requirepass", "")


def test_a_duplicate_task_name_stops_the_worker_at_start(start_worker):
    worker = start_worker(ready=False, env={"JOBS_TEST_EXTRA_APPS": "tests.dupapp"})
    assert worker.wait(30) != 0
    assert "'shop.send_welcome' is used twice" in worker.output
    assert "tests.testapp.tasks.send_welcome" in worker.output
    assert "tests.dupapp.tasks.send_welcome_again" in worker.output


def test_worker_survives_a_redis_restart(start_worker, redis_server):
    worker = start_worker("-c", "1")
    redis_server.restart()
    worker.wait_for("Redis call failed|works again", timeout=30)
    assert tasks.add.delay(20, 22).get(timeout=30) == 42


def test_result_of_a_task_run_elsewhere_is_readable_by_id(start_worker):
    start_worker("-P", "solo")
    task_id = tasks.add.delay(5, 5).id
    assert AsyncResult(task_id).get(timeout=10) == 10
