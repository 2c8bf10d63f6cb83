"""Health for orchestrators: the liveness file of `runworker --healthcheck-file`, the readiness
checks of `manage.py jobs healthcheck` and of the `jobs/health` view, against a real Redis and real
workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

from jobs.models import IntervalSchedule, PeriodicTask
from tests.conftest import ROOT
from tests.testapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)


def healthcheck(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`manage.py jobs healthcheck`, as a probe runs it."""
    return subprocess.run([sys.executable, "manage.py", "jobs", "healthcheck", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=60,
                          env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **(env or {})})


def touched_after(path: Path, mtime: float, timeout: float = 10.0) -> float:
    """Wait until the file's mtime moves past `mtime` (the worker touched it); its new mtime."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            now = path.stat().st_mtime
        except FileNotFoundError:
            now = 0.0
        if now > mtime:
            return now
        time.sleep(0.05)  # polls a file's age, as the probe does; no event tells of a touch
    raise AssertionError(f"{path} was not touched within {timeout} s")


def test_the_liveness_file_is_touched_while_the_supervisor_runs_and_only_then(start_worker, redis_server, tmp_path):
    alive = tmp_path / "alive"
    worker = start_worker("-c", "1", "--healthcheck-file", str(alive))
    first = touched_after(alive, 0.0)
    second = touched_after(alive, first)
    # Redis away: the supervisor keeps turning (and retrying), so the probe must not restart it.
    redis_server.stop()
    worker.wait_for("Redis call failed")
    during = touched_after(alive, touched_after(alive, second))
    redis_server.start()
    # The supervisor frozen (a hang of the process the probe is about): no more touches.
    worker.signal(signal.SIGSTOP)
    try:
        frozen_at = touched_after(alive, 0.0)
        time.sleep(3)  # the freeze itself, three turns of the loop long: the subject of this test
        assert alive.stat().st_mtime == frozen_at
    finally:
        worker.signal(signal.SIGCONT)
    assert touched_after(alive, frozen_at) > during
    assert tasks.add.delay(1, 2).get(timeout=20) == 3


def test_a_queue_with_work_and_no_worker_fails_the_readiness_check(start_worker, test_database_env):
    tasks.add.apply_async((1, 1), queue="nobody")
    failed = healthcheck(env=test_database_env)
    assert failed.returncode == 1
    assert failed.stdout.strip().startswith("unhealthy: workers: queue nobody has 1 waiting task(s) and no live")
    assert "runworker -Q nobody" in failed.stdout
    start_worker("-Q", "default", "-c", "1")
    assert healthcheck(env=test_database_env).returncode == 1  # a worker, but not for that queue
    worker = start_worker("-Q", "nobody", "-c", "1")
    worker.wait_for(r"ready\.$")
    passed = healthcheck("--json", env=test_database_env)
    assert passed.returncode == 0, passed.stdout
    document = json.loads(passed.stdout)
    assert document["ok"] is True and [c["name"] for c in document["checks"]] == ["redis", "eviction", "workers"]


def test_eviction_and_a_missing_beat_fail_readiness(r, test_database_env):
    every = IntervalSchedule.objects.create(every=1, period="hours")
    PeriodicTask.objects.create(name="hourly", task="tests.testapp.tasks.noop", schedule=every)
    missing_beat = healthcheck("--json", env=test_database_env)
    assert missing_beat.returncode == 1
    beat = next(c for c in json.loads(missing_beat.stdout)["checks"] if c["name"] == "beat")
    assert beat["ok"] is False and "runbeat" in beat["detail"]
    r.config_set("maxmemory-policy", "allkeys-lru")
    try:
        evicting = healthcheck(env=test_database_env)
    finally:
        r.config_set("maxmemory-policy", "noeviction")
    assert evicting.returncode == 1 and evicting.stdout.startswith("unhealthy: eviction: ")
    assert "allkeys-lru" in evicting.stdout


def test_an_unreachable_redis_is_one_clear_line(redis_server, test_database_env):
    redis_server.stop()
    try:
        down = healthcheck(env=test_database_env)
    finally:
        redis_server.start()
    assert down.returncode == 1 and down.stdout.startswith("unhealthy: redis: Redis at redis://127.0.0.1:")
    assert "cannot be reached" in down.stdout


@override_settings(ROOT_URLCONF="tests.urls")
def test_the_health_view_answers_staff_and_the_token_and_nobody_else(r):
    client = Client()
    assert client.get("/jobs/health").status_code == 401
    with override_settings(JOBS={"METRICS_TOKEN": "s3cret-token-0123456789"}):
        refused = client.get("/jobs/health", HTTP_AUTHORIZATION="Bearer wrong")
        assert refused.status_code == 401 and refused["WWW-Authenticate"] == 'Bearer realm="jobs"'
        assert "redis" not in refused.content.decode()
        ok = client.get("/jobs/health", HTTP_AUTHORIZATION="Bearer s3cret-token-0123456789")
        assert ok.status_code == 200 and ok.json()["ok"] is True
        assert client.post("/jobs/health", HTTP_AUTHORIZATION="Bearer s3cret-token-0123456789").status_code == 405
    user = User.objects.create_user("plain", password="pw")
    client.force_login(user)
    assert client.get("/jobs/health").status_code == 401  # a user, not staff
    user.is_staff = True
    user.save()
    tasks.add.apply_async((1, 1), queue="nobody")
    unready = client.get("/jobs/health")
    assert unready.status_code == 503 and unready.json()["ok"] is False
    assert unready.json()["summary"].startswith("unhealthy: workers: queue nobody")


def test_a_short_token_is_refused_with_how_to_make_one():
    from jobs.engine.errors import ConfigurationError
    from jobs.engine.setup.app import current

    with override_settings(JOBS={"METRICS_TOKEN": "short"}):
        with pytest.raises(ConfigurationError, match="at least 16 characters .*secrets.token_urlsafe"):
            _ = current().config
