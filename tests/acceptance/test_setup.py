"""Settings a deployment depends on, checked against real servers and workers: TLS, key prefixes,
accepted content types, expiry."""

import json
import shutil
import time

import pytest
from django.test import override_settings

from jobs.devserver import RedisServer
from jobs.engine.setup import app as engine_app
from jobs.exceptions import TaskRevoked
from tests.testapp import tasks


def broker():
    return engine_app.current().broker


def test_rediss_url_connects_over_tls(start_worker):
    if not shutil.which("openssl"):
        pytest.skip("needs the openssl command to make a certificate")
    server = RedisServer(tls=True)
    try:
        server.start()
    except RuntimeError as exc:
        pytest.skip(f"this redis-server cannot serve TLS: {exc}")
    try:
        assert server.url.startswith("rediss://")
        start_worker("-P", "solo", env={"JOBS_BROKER_URL": server.url})
        with override_settings(JOBS={"BROKER_URL": server.url}):
            assert tasks.add.delay(40, 2).get(timeout=10) == 42
    finally:
        server.cleanup()


def test_key_prefixes_keep_two_sites_apart_on_one_redis(start_worker, r):
    start_worker("-P", "solo", settings={"KEY_PREFIX": "site2"})
    site1 = tasks.add.delay(1, 1)
    with override_settings(JOBS={"KEY_PREFIX": "site2"}):
        assert tasks.add.delay(2, 2).get(timeout=10) == 4
    assert site1.status == "PENDING" and broker().controls.queue_length("default") == 1
    assert r.exists("{site2}:workers") and not r.exists("{jobs}:workers")


def test_a_worker_never_decodes_content_it_was_not_told_to_accept(start_worker, r):
    worker = start_worker("-P", "solo")  # accepts json only
    with override_settings(JOBS={"TASK_SERIALIZER": "pickle", "ACCEPT_CONTENT": ["json", "pickle"]}):
        tasks.echo.delay({1, 2})
    worker.wait_for("moved to the dead letters")
    [record] = [json.loads(m) for m in r.hvals(broker().keys.dead)]
    assert "'pickle' is not in JOBS['ACCEPT_CONTENT']" in record["reason"]
    assert "tests.testapp.tasks.echo" in record["message"]


def test_a_task_that_expired_before_it_started_is_revoked_not_run(start_worker, r):
    late = tasks.record.apply_async(("ran", "late"), expires=0.05)
    on_time = tasks.add.apply_async((1, 2), expires=60)
    time.sleep(0.1)  # let `expires` pass: the expiry itself is the subject of this test
    start_worker("-P", "solo")
    assert on_time.get(timeout=10) == 3
    with pytest.raises(TaskRevoked, match="expired before it started"):
        late.get(timeout=10)
    assert late.status == "REVOKED" and r.llen("ran") == 0
