"""`async def` tasks: run on an event loop in the worker, with results, retries, time limits and
Django's async ORM; adelay()/aget() for async views."""

from __future__ import annotations

import asyncio

import pytest
from django.contrib.auth.models import User
from django.test import override_settings

from jobs.exceptions import SoftTimeLimitExceeded
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
