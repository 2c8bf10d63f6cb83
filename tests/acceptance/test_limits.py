"""Soft and hard time limits, per task, per call and as defaults, in each pool."""

import pytest

from jobs.engine.setup import app as engine_app
from jobs.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from tests.conftest import pid_alive
from tests.testapp import tasks


def test_soft_limit_is_raised_inside_the_task_which_may_clean_up(start_worker, r):
    start_worker("-c", "1")
    assert tasks.spin_and_clean_up.delay("soft1").get(timeout=10) == "cleaned up"
    assert r.llen("cleaned:soft1") == 1


def test_an_uncaught_soft_limit_fails_the_task(start_worker):
    start_worker("-c", "1")
    with pytest.raises(SoftTimeLimitExceeded):
        tasks.spin_soft.delay("soft2").get(timeout=10)


def test_hard_limit_kills_the_child_and_the_worker_keeps_its_concurrency(start_worker, r):
    worker = start_worker("-c", "1")
    result = tasks.spin_hard.delay("hard1")
    _, child = r.blpop(["started:hard1"], timeout=10)
    with pytest.raises(TimeLimitExceeded):
        result.get(timeout=10)
    assert not pid_alive(int(child))
    assert tasks.add.delay(1, 2).get(timeout=10) == 3  # a new child took the slot
    worker.wait_for("killed: its task ran past its hard time limit")
    line = worker.wait_for(r"Task tests\.testapp\.tasks\.spin_hard\[.*\] raised TimeLimitExceeded after")
    ran = float(line.split(" after ", 1)[1].split("s", 1)[0])
    assert ran >= 0.45  # how long it ran before the kill (its limit is 0.5 s), not 0.0000s
    assert engine_app.current().broker.deliveries.inflight_count() == 0


def test_time_limit_per_call(start_worker, r):
    start_worker("-c", "1")
    with pytest.raises(TimeLimitExceeded):
        tasks.spin.apply_async(("call1",), time_limit=0.5).get(timeout=10)


def test_time_limit_from_settings(start_worker, r):
    start_worker("-c", "1", settings={"TIME_LIMIT": 0.5})
    with pytest.raises(TimeLimitExceeded):
        tasks.spin.delay("settings1").get(timeout=10)


def test_solo_enforces_both_limits_in_process(start_worker, r):
    start_worker("-P", "solo")
    assert tasks.spin_and_clean_up.delay("solo-soft").get(timeout=10) == "cleaned up"
    with pytest.raises(TimeLimitExceeded):
        tasks.spin_hard.delay("solo-hard").get(timeout=10)
    assert tasks.add.delay(2, 2).get(timeout=10) == 4


def test_threads_enforce_soft_limits_and_say_hard_ones_cannot_be(start_worker, r):
    worker = start_worker("-P", "threads", "-c", "2")
    assert "--pool threads cannot enforce hard time limits" in worker.output
    assert tasks.spin_and_clean_up.delay("thread-soft").get(timeout=10) == "cleaned up"
    with pytest.raises(SoftTimeLimitExceeded):
        tasks.spin_soft.delay("thread-soft2").get(timeout=10)


def test_a_worker_with_no_time_limit_names_the_tasks_without_one(start_worker):
    worker = start_worker("-P", "solo")
    line = worker.wait_for("No time limit is set for")
    assert "tests.testapp.tasks.add" in line and "spin_hard" not in line
    quiet = start_worker("-P", "solo", settings={"TIME_LIMIT": 60})
    assert "No time limit is set" not in quiet.output


def test_a_soft_limit_that_lands_mid_command_leaves_no_corrupt_connection(start_worker, redis_server, r):
    """The limit lands between a command and its reply (the proxy makes each reply take 2 ms, so
    almost every instant of the task is such a moment). The interrupted connection must be closed,
    not reused: the clean-up's delay() and read must get their own replies, and the consumer, which
    must not share that connection, must go on."""
    from tests.faults import FaultProxy

    proxy = FaultProxy(redis_server.port).start()
    try:
        worker = start_worker("-c", "1", env={"JOBS_BROKER_URL": proxy.url})
        proxy.delay_replies(0.002)
        results = [tasks.read_until_soft_limit.delay(f"mid{i}", f"nobody-{i}") for i in range(30)]
        assert [result.get(timeout=30) for result in results] == ["PENDING"] * 30
        proxy.delay_replies(0)
        for i in range(30):  # each clean-up's delay() sent a real message, which a worker ran
            assert r.blpop([f"cleanup:mid{i}"], timeout=10) is not None
        assert "crashed" not in worker.output
    finally:
        proxy.stop()



def test_a_task_that_returned_in_time_is_not_killed_at_its_hard_limit(start_worker):
    """Its on_success runs past the task's time_limit, in the child, after the task returned: the
    limit is the task's, and a kill now would call a finished task TimeLimitExceeded."""
    worker = start_worker("-c", "1")
    assert tasks.quick_with_a_slow_hook.delay(7).get(timeout=10) == 7
    assert "killed" not in worker.output
