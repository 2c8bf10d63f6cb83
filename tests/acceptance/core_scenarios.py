"""The core of jobs, run end to end against one Redis URL: what test_acl.py runs as a Redis user with
the least rights, and test_tls.py over TLS. A real worker (`runworker`, prefork) and a real beat
(`runbeat`) connect with that URL; this process sends, waits for results, reads the console pages
and the health and metrics views (Django's test client, as staff) and runs the CLI (`manage.py jobs`,
`check`), with the same URL. The evidence the test tasks leave (tests/testapp/tasks.py) goes to
`evidence_url`: a Redis user confined to jobs' keys may not write the tests' own keys.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse

from jobs import chain, chord, control, group
from jobs.exceptions import TaskRevoked
from tests.conftest import Worker
from tests.testapp import tasks

TOKEN = "core-scenarios-token-0123456789"
CONSOLE = ["jobs_console", "jobs_console_queues", "jobs_console_workers", "jobs_console_running",
           "jobs_console_scheduled", "jobs_console_tasks", "jobs_console_dead", "jobs_console_metrics",
           "jobs_console_periodic"]


def cli(*args: str) -> str:
    """`manage.py jobs ...` (or another command) in this process: its output, stdout then stderr."""
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def run(url: str, evidence_url: str, start_worker: Callable[..., Worker], start_beat: Callable[..., Worker],
        database_env: dict[str, str], settings: dict[str, Any] | None = None,
        beat_settings: dict[str, Any] | None = None, ready: int = 1) -> tuple[Worker, Worker]:
    """Every scenario, in one worker's and one beat's life; returns them for the caller to look at
    their output. `settings`: more JOBS keys for every process (BROKER_OPTIONS...); `beat_settings`:
    how beat connects instead (BROKER_URL, BROKER_OPTIONS), to try another form of the same. `ready`:
    how many "ready." lines the worker prints (one per shard of `default` and `other` with SHARDS)."""
    settings = settings or {}
    evidence = redis.Redis.from_url(evidence_url)
    env = {**database_env, "JOBS_BROKER_URL": url, "JOBS_TEST_EVIDENCE_URL": evidence_url}
    worker = start_worker("-c", "2", "-Q", "default,other", settings=settings, env=env, ready=False)
    beat = start_beat(settings={**settings, "BROKER_URL": url, **(beat_settings or {}), "BEAT_SCHEDULE": {
        "pulse": {"task": "tests.testapp.tasks.record", "schedule": 1, "args": ["pulses", "tick"]}}})
    worker.wait_count(r"ready\.$", ready)
    connect = {**settings, "BROKER_URL": url}
    with override_settings(JOBS={**connect, "ENQUEUE_TIMEOUT": 5, "HISTORY": True, "METRICS_TOKEN": TOKEN}):
        _tasks_and_workflows(evidence)
        assert evidence.blpop(["pulses"], 30) is not None, "beat's periodic task did not run"
        _dead_letters_and_cli(worker, connect)
        _web()
        cli("check")  # raises SystemCheckError on an error
    return worker, beat


def _tasks_and_workflows(evidence: redis.Redis) -> None:
    name = uuid.uuid4().hex
    assert tasks.add.delay(2, 3).get(timeout=20) == 5  # a result, and its waiter (SUBSCRIBE done:<id>)
    assert tasks.flaky.delay(name, 2).get(timeout=20) == {"retries": 2}  # two retries (scheduled, promoted)
    assert tasks.add.apply_async((1, 1), countdown=0.5).get(timeout=20) == 2
    assert chain(tasks.add.s(1, 2), tasks.add.s(3), tasks.add.s(4)).delay().get(timeout=20) == 10
    assert group(tasks.add.s(i, i) for i in range(4)).delay().get(timeout=20) == [0, 2, 4, 6]
    assert chord([tasks.add.s(1, 1), tasks.add.s(2, 2)], tasks.collect.s(f"chord:{name}")).delay().get(20) == 6
    later = tasks.add.apply_async((1, 1), countdown=0.5)
    later.revoke()
    with pytest.raises(TaskRevoked):
        later.get(timeout=20)
    running = tasks.spin.delay(name)
    assert evidence.blpop([f"started:{name}"], 20) is not None
    running.revoke(terminate=True)
    with pytest.raises(TaskRevoked, match="terminated"):
        running.get(timeout=20)


def _dead_letters_and_cli(worker: Worker, connect: dict[str, Any]) -> None:
    with override_settings(JOBS={**connect, "TASK_SERIALIZER": "pickle", "ACCEPT_CONTENT": ["json", "pickle"]}):
        tasks.echo.delay("not for this worker")  # it accepts json only: a dead letter
    worker.wait_for("moved to the dead letters")
    assert "tests.testapp.tasks.echo" in cli("jobs", "dead", "list")
    assert "1 dead letter(s) back on their queues" in cli("jobs", "dead", "requeue", "--all")
    worker.wait_count("moved to the dead letters", 2)
    assert "1 dead letter(s) deleted" in cli("jobs", "dead", "purge", "--yes")

    assert "alive" in cli("jobs", "inspect", "workers")
    assert "tests.testapp.tasks.add" in cli("jobs", "inspect", "registered")
    held = tasks.add.apply_async((5, 5), countdown=600)
    assert held.id in cli("jobs", "inspect", "scheduled")
    assert "revoked" in cli("jobs", "revoke", held.id)
    cli("jobs", "inspect", "active")
    assert "paused" in cli("jobs", "pause", "other")
    tasks.add.apply_async((1, 1), queue="other")
    assert "other: 1 (PAUSED)" in cli("jobs", "status")
    assert "Deleted 1 message(s)" in cli("jobs", "purge", "other", "--yes")
    assert "resumed" in cli("jobs", "resume", "other")
    assert tasks.add.apply_async((3, 3), queue="other").get(timeout=20) == 6
    assert cli("jobs", "healthcheck").startswith("ok: ")


def _web() -> None:
    staff = Client()
    staff.force_login(User.objects.create_superuser("core-scenarios", password="pw"))
    for page in CONSOLE:
        response = staff.get(reverse(f"admin:{page}"))
        assert response.status_code == 200, (page, response.content[:2000])
    acted = staff.post(reverse("admin:jobs_console_act"), {"action": "pause", "target": ["other"], "confirmed": "1",
                                                           "next": reverse("admin:jobs_console_queues")})
    assert acted.status_code == 302 and "other" in control.paused()
    assert control.resume("other")
    health = staff.get("/jobs/health")
    assert health.status_code == 200, health.content
    assert json.loads(health.content)["ok"] is True
    metrics = Client().get("/jobs/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert metrics.status_code == 200, metrics.content
    assert b"jobs_tasks_total{" in metrics.content and b'"tests.testapp.tasks.add"' in metrics.content
