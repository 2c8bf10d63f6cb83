"""Control from outside: `manage.py jobs inspect | purge | pause | resume | revoke | retry` and `jobs.control`, acting
on live workers and a real Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from jobs import AsyncResult, control
from jobs.engine.errors import JobsError, TaskRevoked
from jobs.engine.ops.metrics import exposition
from jobs.engine.ops.monitor import Monitor
from jobs.engine.setup import app as engine_app
from tests.conftest import ROOT
from tests.testapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)


def jobs_command(*args: str, env: dict[str, str] | None = None, stdin: str | None = None):
    return subprocess.run([sys.executable, "manage.py", "jobs", *args], cwd=ROOT, text=True, capture_output=True,
                          timeout=60, input=stdin,
                          env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **(env or {})})


def test_inspect_shows_what_each_worker_holds_knows_and_what_waits(start_worker, r):
    worker = start_worker("-c", "1", "-n", "inspected")
    running = tasks.block.delay("held")
    r.blpop(["started:held"], timeout=10)
    later = tasks.add.apply_async((1, 2), countdown=600)
    [held] = control.active()
    assert (held["id"], held["task"], held["queue"], held["worker"]) == (
        running.id, "tests.testapp.tasks.block", "default", "inspected")
    assert 0 < held["seconds"] <= engine_app.current().config.lease_seconds
    [waiting] = control.scheduled()
    assert (waiting["id"], waiting["task"]) == (later.id, "tests.testapp.tasks.add") and 590 < waiting["seconds"] <= 600
    assert "tests.testapp.tasks.add" in control.registered()["inspected"]
    [seen] = control.workers()
    assert seen["hostname"] == "inspected" and seen["alive"] and seen["queues"] == ["default"]

    printed = jobs_command("inspect", "active")
    assert printed.returncode == 0 and f"tests.testapp.tasks.block[{running.id}]  queue default  on inspected" in (
        printed.stdout)
    as_json = json.loads(jobs_command("inspect", "scheduled", "--json").stdout)
    assert [h["id"] for h in as_json] == [later.id]
    assert "tests.testapp.tasks.add" in jobs_command("inspect", "registered").stdout
    assert "inspected  alive  prefork x1  queues default" in jobs_command("inspect", "workers").stdout
    r.rpush("release:held", 1)
    assert worker.proc.poll() is None


def test_revoke_terminate_stops_a_running_task(start_worker, r):
    start_worker("-c", "1")
    running = tasks.block.delay("stop-me")
    r.blpop(["started:stop-me"], timeout=10)
    done = jobs_command("revoke", running.id, "--terminate")
    assert done.returncode == 0 and "revoked, and stopped where running" in done.stdout
    with pytest.raises(TaskRevoked):
        running.get(timeout=15)
    assert tasks.add.delay(2, 2).get(timeout=10) == 4  # the slot has a new consumer


def test_purge_asks_or_needs_yes_and_deletes_only_what_waits(r):
    for i in range(3):
        tasks.add.apply_async((i, i), queue="bulk")
    later = tasks.add.apply_async((9, 9), queue="bulk", countdown=600)
    refused = jobs_command("purge", "bulk")
    assert refused.returncode != 0 and "pass --yes" in refused.stderr
    assert engine_app.current().broker.controls.queue_length("bulk") == 3
    done = jobs_command("purge", "bulk", "--yes")
    assert done.returncode == 0 and "Deleted 3 message(s) from queue bulk." in done.stdout
    assert engine_app.current().broker.controls.queue_length("bulk") == 0
    assert [h["id"] for h in control.scheduled()] == [later.id]  # scheduled messages stay
    with pytest.raises(JobsError, match="queue is 'bad queue|name'"):
        control.purge("bad queue|name")
    bad = jobs_command("purge", "bad queue|name", "--yes")
    assert bad.returncode == 1 and "use 1-200 characters" in bad.stderr and "Traceback" not in bad.stderr


def test_retry_sends_the_same_call_again_as_a_new_task(start_worker, r, test_database_env):
    start_worker("-c", "1")
    first = tasks.add.delay(20, 22)
    assert first.get(timeout=10) == 42
    done = jobs_command("retry", first.id, env=test_database_env)
    assert done.returncode == 0 and f"(its parent: {first.id})" in done.stdout
    new_id = done.stdout.split("[", 1)[1].split("]", 1)[0]
    assert new_id != first.id
    result = AsyncResult(new_id)
    assert result.get(timeout=10) == 42 and result.parent_id == first.id
    secret = tasks.sign_in.apply_async(("ann", "hunter2"))
    with pytest.raises(tasks.PaymentDeclined):
        secret.get(timeout=10)
    refused = jobs_command("retry", secret.id, env=test_database_env)
    assert refused.returncode != 0 and "redacted or cut" in refused.stderr
    missing = jobs_command("retry", "no-such-task", env=test_database_env)
    assert missing.returncode != 0 and "nothing to send again" in missing.stderr


def test_a_paused_queue_is_skipped_by_live_workers_until_resumed(start_worker, r):
    """`-Q urgent,default`: an unpaused "urgent" would always be taken first, so each default task
    that runs while urgent messages wait shows the workers skipping the paused queue."""
    start_worker("-Q", "urgent,default", "-c", "2")
    paused = jobs_command("pause", "urgent")
    assert paused.returncode == 0 and "Queue urgent paused" in paused.stdout
    for i in range(3):
        tasks.record.apply_async(("urgent-ran", i), queue="urgent")
    for i in range(4):  # each passes through a fetch of both consumers, which skips "urgent"
        assert tasks.add.delay(i, 1).get(timeout=10) == i + 1
    assert r.llen("urgent-ran") == 0 and engine_app.current().broker.controls.queue_length("urgent") == 3
    status = jobs_command("status").stdout
    assert "urgent: 3 (PAUSED)" in status and "queues urgent (PAUSED), default" in status
    assert list(control.paused()) == ["urgent"]
    scraped = exposition(Monitor(engine_app.current().broker).metrics())
    assert 'jobs_queue_paused{queue="urgent"} 1' in scraped and 'jobs_queue_paused{queue="default"} 0' in scraped
    assert "was paused already" in jobs_command("pause", "urgent").stdout

    resumed = jobs_command("resume", "urgent")
    assert resumed.returncode == 0 and "Queue urgent resumed (3 waiting)." in resumed.stdout
    ran = [r.blpop(["urgent-ran"], timeout=10) for _ in range(3)]
    assert all(ran) and control.paused() == {}
    assert "was not paused" in jobs_command("resume", "urgent").stdout
    assert jobs_command("pause", "bad queue|name").returncode == 1
