"""Revoking tasks: a waiting one never runs; terminate=True stops a running one."""

import pytest

from jobs.engine.setup import app as engine_app
from jobs.exceptions import TaskRevoked
from tests.conftest import pid_alive
from tests.testapp import tasks


def test_a_revoked_waiting_task_is_not_run(start_worker, r):
    doomed = tasks.record.delay("ran", "doomed")
    kept = tasks.record.delay("ran", "kept")
    doomed.revoke()
    assert doomed.status == "PENDING"  # as in Celery: it becomes REVOKED when a worker comes to it
    start_worker("-P", "solo")
    assert kept.get(timeout=10) == "kept"
    assert [v.split(b":")[0] for v in r.lrange("ran", 0, -1)] == [b"kept"]
    with pytest.raises(TaskRevoked, match="revoked"):
        doomed.get(timeout=1)
    assert f"revoked-False:tests.testapp.tasks.record:{doomed.id}".encode() in r.lrange("signals", 0, -1)


def test_revoking_a_countdown_task_keeps_it_from_running_when_due(start_worker, r):
    start_worker("-P", "solo")
    later = tasks.record.apply_async(("ran", "later"), countdown=0.5)
    later.revoke()
    after = tasks.record.apply_async(("ran", "after"), countdown=0.7)
    assert after.get(timeout=10) == "after"
    assert r.lrange("ran", 0, -1) == [r.lrange("ran", 0, -1)[0]] and later.status == "REVOKED"


@pytest.mark.parametrize("pool", ["prefork", "threads", "solo"])
def test_terminate_stops_a_running_task(start_worker, r, pool):
    start_worker("-P", pool, "-c", "1")
    running = tasks.spin.delay(f"term-{pool}")
    _, pid = r.blpop([f"started:term-{pool}"], timeout=10)
    running.revoke(terminate=True)
    with pytest.raises(TaskRevoked, match="terminated"):
        running.get(timeout=10)
    if pool == "prefork":
        assert not pid_alive(int(pid))  # its child was killed and replaced
    assert tasks.add.delay(1, 1).get(timeout=10) == 2
    assert engine_app.current().broker.deliveries.inflight_count() == 0
