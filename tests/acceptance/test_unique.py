"""Unique tasks: while a run with the same key waits or runs, delay() returns it instead of enqueueing
another; the lock goes when the run ends, and outlives a killed worker (the run is not over)."""

from __future__ import annotations

import threading

import pytest

from jobs.engine.setup import app as engine_app
from tests.testapp import tasks


def broker():
    return engine_app.current().broker


def lock_keys(r) -> list[bytes]:
    return sorted(r.keys("{jobs}:unique:*"))


def test_the_same_arguments_while_one_waits_return_the_waiting_run(r):
    first = tasks.sync_shop.delay(1)
    again = tasks.sync_shop.delay(1)
    other = tasks.sync_shop.delay(2)
    assert again.id == first.id and other.id != first.id
    assert broker().controls.queue_length("default") == 2
    [lock, _] = lock_keys(r)
    assert lock.startswith(b"{jobs}:unique:tests.testapp.tasks.sync_shop:")
    assert 0 < r.pttl(lock) <= 60_000  # bounded by unique_for


def test_callers_racing_enqueue_one_run(r):
    ids, barrier = [], threading.Barrier(16)

    def call():
        barrier.wait()
        ids.append(tasks.sync_shop.delay(7).id)

    threads = [threading.Thread(target=call) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 1 and broker().controls.queue_length("default") == 1


def test_while_it_runs_the_same_call_returns_it_and_once_it_ends_a_new_one_is_sent(start_worker, r):
    start_worker("-P", "solo")
    running = tasks.sync_shop.delay(3)
    r.blpop(["started:shop3"], timeout=10)
    assert tasks.sync_shop.delay(3).id == running.id
    r.rpush("release:shop3", "go")
    assert running.get(timeout=10) == "shop3"
    assert lock_keys(r) == []  # released by the run's acknowledgement
    assert tasks.sync_shop.delay(3).id != running.id


def test_a_failure_releases_the_lock_and_a_key_per_call_groups_other_arguments(start_worker, r):
    start_worker("-P", "solo")
    failed = tasks.fail.apply_async(("no",), unique_for=30)
    failed.get(timeout=10, propagate=False)
    assert failed.failed() and lock_keys(r) == []
    a = tasks.record.apply_async(("x", 1), unique_key="customer:9", unique_for=30, countdown=60)
    b = tasks.record.apply_async(("x", 2), unique_key="customer:9", unique_for=30)
    assert a.id == b.id and broker().scheduled.count() == 1  # the delayed one holds the key
    with pytest.raises(ValueError, match="unique_key needs unique_for"):
        tasks.add.apply_async((1, 1), unique_key="k")


def test_a_killed_worker_does_not_free_the_lock_of_a_run_that_is_not_over(start_worker, r):
    first = start_worker("-c", "1", settings={"LEASE_SECONDS": 2})
    run = tasks.sync_shop.delay(4)
    r.blpop(["started:shop4"], timeout=10)
    first.cleanup()  # kill -9 of the worker and its children
    assert tasks.sync_shop.delay(4).id == run.id  # still pending: not sent twice
    # Two tokens: Redis may not have seen the killed process's connection close yet, and would hand
    # it the first.
    r.rpush("release:shop4", "go", "go")
    start_worker("-c", "1", settings={"LEASE_SECONDS": 2})
    assert run.get(timeout=20) == "shop4"
    assert r.llen("deliveries:shop4") == 2 and lock_keys(r) == []
