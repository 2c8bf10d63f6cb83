"""`async def` tasks: run on an event loop in the worker, with results, retries, time limits and
Django's async ORM; adelay()/aget() for async views."""

from __future__ import annotations

import asyncio

import pytest
from django.contrib.auth.models import User
from django.test import override_settings

from jobs.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from tests.testapp import tasks


def test_an_async_task_runs_on_a_worker(start_worker):
    start_worker("-c", "2")
    assert [tasks.double_later.delay(i).get(timeout=10) for i in range(3)] == [0, 2, 4]


@pytest.mark.django_db(transaction=True)
def test_djangos_async_orm_works_inside(start_worker, test_database_env):
    User.objects.create(username="ada")
    User.objects.create(username="grace")
    start_worker("-P", "solo", env=test_database_env)
    assert tasks.count_users.delay().get(timeout=10) == 2


@pytest.mark.django_db(transaction=True)
def test_the_async_orms_connections_are_closed_around_each_task(start_worker, test_database_env):
    start_worker("-P", "solo", env=test_database_env)
    # CONN_MAX_AGE is 0: the connection a task opened is closed when it ends, in the thread that holds it.
    assert [tasks.connection_was_open.delay().get(timeout=10) for _ in range(3)] == [False, False, False]


def test_adelay_sends_at_once_even_with_enqueue_on_commit(r):
    with override_settings(JOBS={"ENQUEUE_ON_COMMIT": True}):
        result = asyncio.run(tasks.add.adelay(1, 1))
    assert r.zcard("{jobs}:queue:default") == 1 and result.status == "PENDING"


def test_retries_work_for_async_tasks(start_worker, r):
    start_worker("-P", "solo")
    result = tasks.flaky_async.delay("tries")
    assert result.get(timeout=10) == 3


def test_the_soft_time_limit_stops_it_and_its_cleanup_runs(start_worker, r):
    start_worker("-c", "1")
    result = tasks.slow_async.delay("cleanup")
    with pytest.raises(SoftTimeLimitExceeded):
        result.get(timeout=10)
    assert r.lrange("cleanup", 0, -1) == [b"cleaned up"]


def test_adelay_and_aget_from_async_code(start_worker):
    start_worker("-P", "solo")

    async def view():
        result = await tasks.add.adelay(2, 3)
        return await result.aget(timeout=10)

    assert asyncio.run(view()) == 5


def test_eager_mode_runs_async_tasks_too():
    with override_settings(JOBS={"EAGER": True}):
        assert tasks.double_later.delay(21).get() == 42


def test_async_concurrency_runs_several_at_once_in_one_process(start_worker, r):
    start_worker("-c", "1", "--async-concurrency", "8")
    results = [tasks.overlap.delay(f"o{i}", 0.5) for i in range(8)]
    assert sorted(res.get(timeout=15) for res in results) == sorted(f"o{i}" for i in range(8))
    starts = sorted(int(x) for x in r.lrange("overlap:starts", 0, -1))
    ends = sorted(int(x) for x in r.lrange("overlap:ends", 0, -1))
    assert starts[-1] < ends[0]  # all eight were running at one moment, in one consumer
    assert len({int(p) for name in range(8) for p in r.lrange(f"started:o{name}", 0, -1)}) == 1


def test_async_concurrency_keeps_sync_tasks_and_limits_working(start_worker, r):
    start_worker("-c", "1", "--async-concurrency", "4")
    slow = tasks.slow_async.delay("cleanup")       # soft limit 0.5 s, on the loop
    assert tasks.add.delay(2, 3).get(timeout=10) == 5  # a sync task runs while it waits
    with pytest.raises(SoftTimeLimitExceeded):
        slow.get(timeout=10)
    assert r.lrange("cleanup", 0, -1) == [b"cleaned up"]
    assert tasks.flaky_async.delay("tries").get(timeout=10) == 3


def test_a_killed_worker_loses_none_of_the_async_tasks_it_ran(start_worker, r):
    first = start_worker("-c", "1", "--async-concurrency", "4", settings={"LEASE_SECONDS": 2})
    results = [tasks.overlap.delay(f"k{i}", 30) for i in range(4)]
    for i in range(4):
        assert r.blpop([f"started:k{i}"], timeout=10)
    first.cleanup()  # kill -9 of the worker and its children
    start_worker("-c", "1", "--async-concurrency", "4", settings={"LEASE_SECONDS": 2})
    r.delete("overlap:starts")
    # They run again on the new worker (their leases ran out); each ends once there.
    assert sorted(res.get(timeout=60) for res in results) == [f"k{i}" for i in range(4)]


def test_an_async_task_that_blocks_its_loop_fails_and_its_process_is_replaced(start_worker, r):
    worker = start_worker("-c", "1", "--async-concurrency", "4")
    stuck = tasks.stuck_in_sync_code.delay("s")
    r.blpop(["started:s"], timeout=10)
    with pytest.raises(TimeLimitExceeded, match="blocked its event loop"):
        stuck.get(timeout=20)
    worker.wait_for("consumer 0 exited with code 70")
    assert tasks.double_later.delay(4).get(timeout=20) == 8  # a new consumer serves on
    assert r.llen("started:s") == 0  # failed, not run again (its one start was taken above)


def test_a_warm_shutdown_lets_the_running_async_tasks_finish(start_worker, r):
    import signal

    worker = start_worker("-c", "1", "--async-concurrency", "4")
    results = [tasks.overlap.delay(f"w{i}", 1) for i in range(3)]
    for i in range(3):
        assert r.blpop([f"started:w{i}"], timeout=10)
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    assert [res.get(timeout=1) for res in results] == ["w0", "w1", "w2"]


def test_an_async_task_holding_the_gil_is_stopped_by_the_supervisor(start_worker, r):
    worker = start_worker("-c", "1", "--async-concurrency", "4")
    stuck = tasks.holds_the_gil.delay("g")
    r.blpop(["started:g"], timeout=10)
    with pytest.raises(TimeLimitExceeded):
        stuck.get(timeout=40)  # 1 s limit + the supervisor's grace: the process is killed
    worker.wait_for("the event loop did not stop it")
    assert tasks.double_later.delay(4).get(timeout=20) == 8


def test_the_watchdog_blames_the_task_that_blocks_the_loop_not_the_oldest(start_worker, r):
    start_worker("-c", "1", "--async-concurrency", "4")
    patient = tasks.overlap.apply_async(("patient", 8), time_limit=1)  # past its limit while blocked
    r.blpop(["started:patient"], timeout=10)
    blocker = tasks.stuck_in_sync_code.delay("blocker")  # time_limit=1, sleeps 60 s on the loop
    r.blpop(["started:blocker"], timeout=10)
    with pytest.raises(TimeLimitExceeded, match="blocked its event loop"):
        blocker.get(timeout=30)
    # The patient task was handed back (not failed) and ran again on the new process; its 1 s
    # limit cancels it there, on a loop that works.
    assert isinstance(patient.get(timeout=30, propagate=False), TimeLimitExceeded)
    assert "blocked its event loop" not in (patient.traceback or "")


def test_an_async_tasks_result_does_not_wait_for_a_sync_task_beside_it(start_worker, r):
    start_worker("-c", "1", "--async-concurrency", "4")
    quick = tasks.overlap.delay("quick", 0.5)
    r.blpop(["started:quick"], timeout=10)
    nap = tasks.nap.delay(3)  # a sync task, run inline by the same consumer meanwhile
    assert quick.get(timeout=10) == "quick"
    assert not nap.ready()  # stored while the consumer was still busy with the sync task
    assert nap.get(timeout=10) == 3


def test_async_concurrency_needs_prefork(start_worker):
    worker = start_worker("-P", "threads", "--async-concurrency", "4", ready=False)
    assert worker.wait(20) != 0
    assert "needs --pool prefork" in worker.output
