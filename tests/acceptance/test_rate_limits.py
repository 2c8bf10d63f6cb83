"""Rate limits across the cluster: two workers together stay within a task's limit, a key per call
gets its own budget, a group of tasks shares one. Counted from the start times the tasks record
(by Redis's clock), not from how long the test took."""

from __future__ import annotations

import pytest
from django.test import override_settings

from jobs import task
from jobs.engine.errors import ConfigurationError
from jobs.engine.setup import app as engine_app
from tests.testapp import tasks

#: Between a start being allowed in Redis and the task recording it, a process may be scheduled out
#: for a moment; starts are compared with this much slack.
JITTER_MS = 40


def starts(r, key: str, n: int) -> list[int]:
    """The n start times recorded under `key`, awaited (each task pushes one)."""
    seen = []
    while len(seen) < n:
        item = r.blpop([key], timeout=30)
        assert item is not None, f"only {len(seen)} of {n} tasks ran"
        seen.append(int(item[1]))
    return sorted(seen)


def most_in_any_window(times: list[int], window_ms: int) -> int:
    return max(sum(1 for u in times if t <= u < t + window_ms - JITTER_MS) for t in times)


def test_two_workers_together_stay_within_the_limit(start_worker, r):
    workers = [start_worker("-c", "2"), start_worker("-c", "2")]
    for _ in range(30):
        tasks.limited.delay("limited")
    times = starts(r, "limited", 30)
    assert most_in_any_window(times, 1000) <= 10          # "10/s": no second holds more than 10 starts
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 100 - JITTER_MS
    pids = {int(p) for p in r.lrange("limited:pids", 0, -1)}
    assert all(pids & set(w.children()) for w in workers)  # both workers ran some: one budget for both


def test_a_rate_of_a_fractional_interval_works_and_waiters_are_not_spun_on(start_worker, r):
    start_worker("-c", "2")
    start_worker("-c", "2")
    def checks() -> int:  # rate.lua reads each budget with one HMGET, and nothing else uses HMGET
        return int(r.info("commandstats").get("cmdstat_hmget", {}).get("calls", 0))

    before = checks()
    for _ in range(9):
        tasks.thirds.delay("thirds")
    times = starts(r, "thirds", 9)
    assert most_in_any_window(times, 1000) <= 3
    deferrals = checks() - before - 9  # 9 of the checks let a task start
    assert deferrals <= 4 * 9  # each waiter is put back a few times at most, not spun on


def test_a_key_per_call_gets_its_own_budget(start_worker, r):
    start_worker("-c", "2")
    start_worker("-c", "2")
    for _ in range(8):
        tasks.per_shop.delay("a", "shop")
        tasks.per_shop.delay("b", "shop")
    a, b = starts(r, "shop:a", 8), starts(r, "shop:b", 8)
    for times in (a, b):
        assert most_in_any_window(times, 1000) <= 5
    assert min(abs(x - y) for x in a for y in b) < 200 - JITTER_MS  # the two shops did not wait for each other


def test_a_group_of_tasks_shares_one_budget(start_worker, r):
    limits = {"RATE_LIMITS": {"tests.testapp.tasks.partner_*": "5/s"}}
    start_worker("-c", "2", settings=limits)
    start_worker("-c", "2", settings=limits)
    for _ in range(5):
        tasks.partner_a.delay("partner")
        tasks.partner_b.delay("partner")
    times = starts(r, "partner", 10)
    assert most_in_any_window(times, 1000) <= 5
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 200 - JITTER_MS


def test_a_task_over_its_limit_waits_in_redis_not_in_a_worker(start_worker, r):
    start_worker("-c", "1")
    for _ in range(4):
        tasks.slow_limited.delay("waiting")
    starts(r, "waiting", 1)
    # One process, three tasks over their limit: they wait in the scheduled set, so other work runs.
    assert tasks.add.delay(2, 3).get(timeout=5) == 5
    assert r.llen("waiting:pids") < 4 and engine_app.current().broker.scheduled.count() >= 1
    starts(r, "waiting", 3)


def test_a_rate_limit_key_that_fails_fails_the_call_with_a_clear_error(start_worker):
    start_worker("-P", "solo")
    bad = tasks.per_shop.delay("a")  # the key function needs two arguments
    error = bad.get(timeout=10, propagate=False)
    assert isinstance(error, TypeError) and "(in rate_limit_key)" in bad.traceback


@pytest.mark.parametrize("rate, message", [("10/x", "is not a rate; write '10/s'"), ("0/s", "more than 0")])
def test_a_bad_rate_is_an_error_that_says_what_to_write(rate, message):
    with pytest.raises(ConfigurationError, match=message):
        task(rate_limit=rate, name="tests.bad_rate")(lambda: None)
    with override_settings(JOBS={"RATE_LIMITS": {"partner.*": rate}}):
        with pytest.raises(ConfigurationError, match=message):
            engine_app.current()


def test_on_three_shards_a_task_has_one_budget_whatever_shard_its_messages_are_on(start_worker, r):
    """The budget's keys live on shard 0; a message on another shard takes its start there, and waits
    on its own shard (worker/delivery.py _rate)."""
    settings = {"SHARDS": 3, "QUEUE_SHARD": {"q0": 0, "q1": 1, "q2": 2}}
    worker = start_worker("-c", "3", "-Q", "q0,q1,q2", settings=settings, ready=False)
    worker.wait_count(r"ready\.$", 3)
    with override_settings(JOBS=settings):
        for i in range(30):
            tasks.limited.apply_async(("limited",), queue=("q0", "q1", "q2")[i % 3])
    times = starts(r, "limited", 30)
    assert most_in_any_window(times, 1000) <= 10  # "10/s" over the three shards together, not 10/s each
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 100 - JITTER_MS
    budgets = {shard: r.keys(f"{{jobs{shard}}}:rate:*") for shard in ("", ":1", ":2")}
    assert len(budgets[""]) == 1 and not budgets[":1"] and not budgets[":2"], budgets
    pids = {int(p) for p in r.lrange("limited:pids", 0, -1)}
    assert len(pids) == 3  # each shard's consumer ran its share
