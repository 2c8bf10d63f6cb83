"""Resumable tasks (@task(resumable=True), self.checkpoint): a long task killed with kill -9 three
times goes on from its last checkpoint each time, so every item is processed at least once and at
most the items after a checkpoint are processed twice; its progress shows on the console; a revoke
stops it at its next checkpoint. Counted per item in Redis by the task (tests/testapp/tasks.py walk)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from jobs import task
from jobs.engine.errors import ConfigurationError
from tests.testapp import tasks

FAST = {"LEASE_SECONDS": 2, "MAX_DELIVERIES": 10}


def reach(r, key: str, cursor: int) -> int:
    """Wait until the run of `key` announces a checkpoint at or past `cursor`; returns it."""
    while True:
        item = r.blpop([f"{key}:checkpoints"], timeout=30)
        assert item is not None, f"{key}: no checkpoint past {cursor}"
        if int(item[1]) >= cursor:
            return int(item[1])


def test_a_task_killed_three_times_resumes_from_its_last_checkpoint(start_worker, r):
    total, every, kills = 10_000, 100, 3
    worker = start_worker("-c", "1", settings=FAST)
    result = tasks.walk.delay(total, every, "items")
    for k in range(1, kills + 1):
        reach(r, "items", k * 2_500)
        worker.kill9()
        worker = start_worker("-c", "1", settings=FAST)
    assert result.get(timeout=60) == total
    counts = {int(i): int(n) for i, n in r.hgetall("items").items()}
    assert sorted(counts) == list(range(total))  # every item at least once
    twice = sum(1 for n in counts.values() if n == 2)
    assert max(counts.values()) <= 2 and twice <= kills * every
    starts = [int(s) for s in r.lrange("items:starts", 0, -1)]
    assert len(starts) == kills + 1 and starts[0] == 0 and all(s >= 2_500 * k for k, s in enumerate(starts))


@pytest.mark.django_db
def test_progress_shows_on_the_console_and_a_revoke_stops_it_at_its_next_checkpoint(start_worker, r):
    start_worker("-c", "1")
    result = tasks.walk.delay(1_000, 100, "held", hold_at=300)
    reach(r, "held", 300)
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_console"))
    client = Client()
    client.force_login(viewer)
    page = client.get(reverse("admin:jobs_console_task", args=[result.id])).content.decode()
    assert "progress" in page and "&#x27;current&#x27;: 300" in page and "&#x27;percent&#x27;: 30.0" in page
    result.revoke()
    r.rpush("release:held", 1)
    result.get(timeout=10, propagate=False)
    assert result.state == "REVOKED"
    assert r.lrange("held:checkpoints", 0, -1) == []  # 400 was stored, and the run stopped there
    assert r.hlen("held") == 400


def test_checkpoint_needs_resumable_and_resumable_is_a_flag():
    with pytest.raises(ConfigurationError, match="resumable must be True or False"):
        task(name="tests.bad_resumable", resumable=1)(lambda: None)
    plain = task(name="tests.plain_checkpoint", bind=True)(lambda self: self.checkpoint(1))
    with pytest.raises(RuntimeError, match="needs @task\\(resumable=True\\)"):
        plain()
