"""The task history in the database, written by real `runworker` processes (and nothing else): a
row for every outcome, redacted, surviving a recorder killed with kill -9 and a database that
refuses writes, pruned by age."""

import datetime as dt
import io
import json
import time

import pytest
from django.core.management import call_command
from django.db import connections

from jobs.engine.errors import TimeLimitExceeded, WorkerLostError
from jobs.engine.setup import app as engine_app
from jobs.engine.wire.message import Message
from jobs.models import TaskResult
from tests.testapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)


def broker():
    return engine_app.current().broker


def rows():
    return {row.task_id: row for row in TaskResult.objects.all()}


def wait_recorded(r, condition, timeout=30.0):
    """Until `condition()` (a read of the database) holds, re-checked each time a recorder deletes
    what it has written from the history stream (a keyspace notification: after its commit)."""
    r.config_set("notify-keyspace-events", "Kt")
    deadline = time.monotonic() + timeout
    with r.pubsub() as events:
        events.subscribe(f"__keyspace@0__:{broker().keys.history}")
        assert events.get_message(timeout=5)["type"] == "subscribe"
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"not recorded in {timeout:g} s; rows: {sorted(rows())}; "
                                     f"waiting in Redis: {broker().history.waiting()}")
            events.get_message(timeout=left)


def wait_rows(r, expected, timeout=30.0):
    """Until the rows of `expected` (task id -> status, or ids for any status) are recorded."""
    if not isinstance(expected, dict):
        expected = dict.fromkeys(expected)

    def done():
        found = dict(TaskResult.objects.filter(task_id__in=expected).values_list("task_id", "status"))
        return set(found) == set(expected) and all(s is None or found[i] == s for i, s in expected.items())

    wait_recorded(r, done, timeout)
    return rows()


def test_every_outcome_is_a_row(start_worker, test_database_env, r):
    start_worker("-c", "2", settings={"MAX_DELIVERIES": 2}, env=test_database_env)
    ok = tasks.add.delay(2, 3)
    failed = tasks.fail.delay("declined")
    retried = tasks.flaky.delay("h-flaky", 2)
    tasks.retry_with_reason.apply_async(task_id="h-retry")
    limited = tasks.spin_hard.delay("h-spin")
    ignored = tasks.ignored.delay("h-ignored")
    unrecorded = tasks.unrecorded.delay(1)
    later = tasks.add.apply_async((1, 1), countdown=0.5)
    later.revoke()
    broker().sends.enqueue([Message(id="h-pickled", task="tests.testapp.tasks.record", args=("x", 1),
                              content_type="pickle")])  # this worker accepts JSON only: dead letters
    assert ok.get(timeout=10) == 5 and retried.get(timeout=20) == {"retries": 2}
    # The tasks that kill their process come once the others ran: a consumer's death may run again
    # what it finished in the last ACK_DELAY (5 ms), and `flaky` counts its runs.
    lost = tasks.crash.delay("h-crash")
    again = tasks.crash_again.delay("h-again")  # its process dies each time: MAX_DELIVERIES, dead letters
    for result, error in ((failed, tasks.PaymentDeclined), (limited, TimeLimitExceeded), (lost, WorkerLostError)):
        with pytest.raises(error):
            result.get(timeout=20)
    assert unrecorded.get(timeout=10) == 1

    found = wait_rows(r, {ok.id: "SUCCESS", failed.id: "FAILURE", retried.id: "SUCCESS", "h-retry": "RETRY",
                          limited.id: "FAILURE", lost.id: "FAILURE", ignored.id: "SUCCESS", later.id: "REVOKED",
                          "h-pickled": "REJECTED", again.id: "REJECTED"})
    assert unrecorded.id not in found  # @task(history=False)

    row = found[ok.id]
    assert (row.name, json.loads(row.args), json.loads(row.kwargs), json.loads(row.result)) == \
        ("tests.testapp.tasks.add", [2, 3], {}, 5)
    assert row.queue == "default" and row.worker and row.retries == 0 and row.runtime >= 0
    assert row.date_enqueued <= row.date_started <= row.date_done and row.args_complete
    assert json.loads(found[failed.id].result) == {"exc_type": "tests.testapp.tasks.PaymentDeclined",
                                                   "exc_message": "declined"}
    assert "PaymentDeclined: declined" in found[failed.id].traceback
    assert found[retried.id].retries == 2
    assert json.loads(found["h-retry"].result)["exc_message"] == "the bank said: try later"
    assert "TimeLimitExceeded" in found[limited.id].result
    assert "WorkerLostError" in found[lost.id].result
    assert found[ignored.id].result == '"<str: not stored (ignore_result)>"'
    assert json.loads(found[later.id].args) == [1, 1] and json.loads(found[later.id].result) == {"reason": "revoked"}
    assert "not in JOBS['ACCEPT_CONTENT']" in found["h-pickled"].result and not found["h-pickled"].args_complete
    assert "delivered 2 times" in json.loads(found[again.id].result)["reason"]


def test_a_tracked_task_has_a_started_row_while_it_runs(start_worker, test_database_env, r):
    start_worker("-c", "1", env=test_database_env)
    running = tasks.tracked.delay("h-tracked")
    r.blpop(["started:h-tracked"], timeout=10)
    found = wait_rows(r, {running.id: "STARTED"})
    assert found[running.id].date_started is not None and found[running.id].date_done is None
    r.rpush("release:h-tracked", 1)
    assert running.get(timeout=10) == "h-tracked"
    wait_rows(r, {running.id: "SUCCESS"})


def test_arguments_are_redacted_in_the_history(start_worker, test_database_env, r):
    start_worker("-c", "1", env=test_database_env)
    result = tasks.sign_in.delay("ann", "hunter2", token="t0k3n")
    with pytest.raises(tasks.PaymentDeclined):
        result.get(timeout=10)
    row = wait_rows(r, [result.id])[result.id]
    assert json.loads(row.args) == ["ann", "***"] and json.loads(row.kwargs) == {"token": "***"}
    assert not row.args_complete and "hunter2" not in (row.traceback or "") + (row.result or "")


def _locked(vendor):
    """Another connection that holds the history table (SQLite: the whole file) so that the
    workers' writes fail, as with a database that is down for writes."""
    conn = connections.create_connection("default")
    cursor = conn.cursor()
    if vendor == "sqlite":
        cursor.execute("BEGIN EXCLUSIVE")
    else:
        cursor.execute("BEGIN")
        cursor.execute(f"LOCK TABLE {TaskResult._meta.db_table} IN ACCESS EXCLUSIVE MODE")
    return conn, cursor


def test_recording_survives_kill_9_of_the_recording_worker_and_a_database_outage(start_worker, test_database_env, r):
    settings = {"LEASE_SECONDS": 2}
    first = start_worker("-c", "2", settings=settings, env=test_database_env)
    conn, cursor = _locked(connections["default"].vendor)
    try:
        results = [tasks.add.delay(i, i) for i in range(50)]
        # The database refuses writes; tasks run on regardless.
        assert [res.get(timeout=20) for res in results] == [2 * i for i in range(50)]
        first.wait_for("the history could not be written to the database", timeout=30)
        first.kill9()  # the recorder holds records it read and did not write
    finally:
        cursor.execute("ROLLBACK")
        conn.close()
    assert broker().history.waiting()[0] >= 50  # nothing was lost: all still in Redis
    start_worker("-c", "1", settings=settings, env=test_database_env)
    wait_rows(r, {res.id: "SUCCESS" for res in results}, timeout=40)
    assert broker().history.waiting() == (0, {})


def test_prune_removes_only_old_rows(test_database_env):
    now = dt.datetime.now(dt.timezone.utc)
    old, recent = now - dt.timedelta(days=8), now - dt.timedelta(days=6)
    TaskResult.objects.bulk_create([
        TaskResult(task_id="old-1", name="t", status="SUCCESS", date_done=old),
        TaskResult(task_id="old-2", name="t", status="FAILURE", date_done=old),
        TaskResult(task_id="old-started", name="t", status="STARTED", date_started=old),
        TaskResult(task_id="recent", name="t", status="SUCCESS", date_done=recent),
        TaskResult(task_id="running", name="t", status="STARTED", date_started=now - dt.timedelta(hours=1)),
    ])
    out = io.StringIO()
    call_command("jobs", "prune", "--batch", "2", stdout=out)  # HISTORY_KEEP: 7 days by default
    assert "3 history row(s) older than 7 days deleted" in out.getvalue()
    assert sorted(rows()) == ["recent", "running"]
    call_command("jobs", "prune", "--days", "5", stdout=out)
    assert sorted(rows()) == ["running"]


def test_the_workers_prune_by_themselves(start_worker, test_database_env):
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)
    TaskResult.objects.bulk_create([TaskResult(task_id=f"old-{i}", name="t", status="SUCCESS", date_done=old)
                                    for i in range(3)] + [TaskResult(task_id="new", name="t", status="SUCCESS",
                                                                     date_done=dt.datetime.now(dt.timezone.utc))])
    worker = start_worker("-P", "solo", settings={"HISTORY_KEEP": 2 * 86400}, env=test_database_env)
    worker.wait_for(r"pruned 3 history row\(s\) older than 2 days", timeout=20)
    assert sorted(rows()) == ["new"]


def test_without_history_no_recorder_runs(start_worker, test_database_env, r):
    worker = start_worker("-P", "solo", settings={"HISTORY": False}, env=test_database_env)
    assert tasks.add.delay(1, 2).get(timeout=10) == 3
    assert r.exists(broker().keys.history) == 0 and worker.children() == []
