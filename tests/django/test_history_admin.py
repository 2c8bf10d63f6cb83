"""The history's admin: read-only for whoever may view it; "run again" and "revoke" each a right of
its own, POST with CSRF like every admin action; values escaped; the database store's upsert."""

import datetime as dt
import io
import json

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.test import Client

from jobs.engine.ops.records import Record, stage
from jobs.engine.setup import app as engine_app
from jobs.engine.wire.message import decode
from jobs.models import TaskResult
from jobs.stores.history import HistoryDatabase

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)


def row(task_id, status="SUCCESS", **kw):
    values = {"name": "shop.tasks.charge", "args": '[7, "eur"]', "kwargs": '{"retry": false}', "queue": "default",
              "worker": "w1@host", "date_done": NOW, "result": "12", **kw}
    return TaskResult.objects.create(task_id=task_id, status=status, **values)


def staff(*perms):
    user = User.objects.create_user("ops", password="pw", is_staff=True)
    user.user_permissions.add(*[Permission.objects.get(codename=p) for p in perms])
    client = Client()
    client.force_login(user)
    return client


def queued(r):
    return [decode(m, "default", ("json",)) for m in r.zrange(engine_app.current().broker.keys.queue("default"), 0, -1)]


def test_the_list_filters_searches_and_shows_a_row_read_only(admin_client, r):
    ok = row("t-ok")
    row("t-bad", status="FAILURE", name="shop.tasks.refund", traceback="Traceback...\nValueError: <b>no</b>")
    page = admin_client.get("/admin/jobs/taskresult/?status__exact=FAILURE").content.decode()
    assert "t-bad" in page and "t-ok" not in page
    page = admin_client.get("/admin/jobs/taskresult/?q=eur").content.decode()  # search in the arguments
    assert "t-ok" in page and "t-bad" in page
    page = admin_client.get("/admin/jobs/taskresult/?q=t-ok").content.decode()  # by id
    assert "t-ok" in page and "t-bad" not in page
    page = admin_client.get("/admin/jobs/taskresult/?date_done__year=2026&date_done__month=11").content.decode()
    assert "t-ok" in page
    detail = admin_client.get(f"/admin/jobs/taskresult/{TaskResult.objects.get(task_id='t-bad').pk}/change/")
    text = detail.content.decode()
    assert detail.status_code == 200 and "&lt;b&gt;no&lt;/b&gt;" in text and "<b>no</b>" not in text
    assert 'name="_save"' not in text  # nothing to save: read-only
    assert admin_client.get("/admin/jobs/taskresult/add/").status_code == 403
    assert admin_client.post(f"/admin/jobs/taskresult/{ok.pk}/delete/", {"post": "yes"}).status_code == 403
    assert TaskResult.objects.count() == 2


def test_run_again_sends_the_same_arguments_linked_to_the_original(admin_client, r):
    original = row("t-orig")
    response = admin_client.post("/admin/jobs/taskresult/", {"action": "run_again",
                                                             "_selected_action": [original.pk]}, follow=True)
    assert "Sent again: shop.tasks.charge" in response.content.decode()
    [message] = queued(r)
    assert (message.task, message.args, message.kwargs) == ("shop.tasks.charge", (7, "eur"), {"retry": False})
    assert message.options.parent == "t-orig" and message.id != "t-orig"


def test_arguments_stored_redacted_are_not_run_again(admin_client, r):
    redacted = row("t-red", args='["ann", "***"]', args_complete=False)
    response = admin_client.post("/admin/jobs/taskresult/", {"action": "run_again",
                                                             "_selected_action": [redacted.pk]}, follow=True)
    assert "not sent: its arguments are stored redacted" in response.content.decode()
    assert queued(r) == []


def test_revoke_marks_the_tasks_that_have_not_ended(admin_client, r):
    waiting = row("t-wait", status="RETRY")
    done = row("t-done")
    response = admin_client.post("/admin/jobs/taskresult/", {"action": "revoke",
                                                             "_selected_action": [waiting.pk, done.pk]}, follow=True)
    text = response.content.decode()
    assert "1 task(s) had ended already" in text and "1 task(s) revoked" in text
    revoked = engine_app.current().broker.keys.revoked
    assert r.zscore(revoked, "t-wait") is not None and r.zscore(revoked, "t-done") is None


def test_acting_needs_its_own_permission_and_reading_needs_view(r):
    target = row("t-perm")
    reader = staff("view_taskresult")
    page = reader.get("/admin/jobs/taskresult/").content.decode()
    assert "t-perm" in page and "run_again" not in page and "revoke" not in page
    detail = reader.get(f"/admin/jobs/taskresult/{target.pk}/change/").content.decode()
    assert "Run again" not in detail
    response = reader.post("/admin/jobs/taskresult/", {"action": "run_again", "_selected_action": [target.pk]})
    assert response.status_code in (200, 302) and queued(r) == []  # an action it does not have: refused

    runner = Client()
    user = User.objects.create_user("runner", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_taskresult", "rerun_taskresult"]))
    runner.force_login(user)
    assert "Run again" in runner.get(f"/admin/jobs/taskresult/{target.pk}/change/").content.decode()
    runner.post("/admin/jobs/taskresult/", {"action": "run_again", "_selected_action": [target.pk]})
    assert len(queued(r)) == 1

    assert Client().get("/admin/jobs/taskresult/").status_code == 302  # not logged in: the login page
    csrf = Client(enforce_csrf_checks=True)
    csrf.force_login(user)
    assert csrf.post("/admin/jobs/taskresult/", {"action": "run_again",
                                                 "_selected_action": [target.pk]}).status_code == 403
    assert len(queued(r)) == 1


def record(task_id, status, retries=0, **kw):
    values = dict(name="t", args="[1]", kwargs="{}", args_complete=True, result=None, traceback=None, queue="q",
                  worker="w", retries=retries, date_enqueued=None, date_started=1.0, date_done=2.0, runtime=1.0,
                  parent_id=None, stage=stage(status, retries))
    values.update(kw)
    return Record(task_id=task_id, status=status, **values)


def test_the_store_upserts_by_task_id_and_never_goes_back_a_stage(transactional_db):
    store = HistoryDatabase()
    store.store([record("a", "RETRY"), record("b", "SUCCESS", result="1")])
    store.store([record("a", "SUCCESS", retries=1, result="2"), record("b", "SUCCESS", result="1")])  # b again
    store.store([record("a", "RETRY")])  # a batch claimed late: older than what is there
    rows = {r.task_id: r for r in TaskResult.objects.all()}
    assert len(rows) == 2 and rows["a"].status == "SUCCESS" and rows["a"].retries == 1 and rows["a"].result == "2"
    assert rows["b"].date_done == dt.datetime.fromtimestamp(2.0, dt.timezone.utc)
    assert json.loads(rows["a"].args) == [1]


def test_jobs_status_shows_the_history_backlog(r, settings):
    settings.JOBS = {**settings.JOBS, "HISTORY": True}
    keys = engine_app.current().broker.keys
    for i in range(3):
        r.xadd(keys.history, {"r": json.dumps({"status": "SUCCESS", "id": f"s{i}"})})
    r.hset(keys.history_dropped, mapping={"success": 2, "other": 1})
    out = io.StringIO()
    call_command("jobs", "status", stdout=out, stderr=io.StringIO())
    assert "history  3 outcome(s) waiting for the database; not recorded since last reported (backlog full): " \
           "1 other, 2 success" in out.getvalue()


def test_the_recorder_says_when_the_history_table_is_missing(monkeypatch, caplog):
    """The worker's recorder checks the table as it makes its store (the supervisor never opens the
    database): a missing table is one error at start, naming the command that makes it."""
    from django.db import connection

    from jobs.apps import _history_store

    monkeypatch.setattr(type(connection.introspection), "table_names", lambda self, *a, **k: [])
    with caplog.at_level("ERROR", logger="jobs.history"):
        assert isinstance(_history_store(), HistoryDatabase)
    assert "manage.py migrate jobs" in caplog.text
    caplog.clear()
    monkeypatch.undo()
    _history_store()
    assert "migrate" not in caplog.text
