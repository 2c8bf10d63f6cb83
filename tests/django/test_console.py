"""The operations console (jobs/console): every page and fragment for its viewers only, every action a
same-origin POST with CSRF by someone with the right to operate, confirmed first where it deletes or
stops, written to the admin's history; values escaped, arguments redacted. Against a real Redis (the
`r` fixture); the pages with live workers are walked by tests/acceptance/test_console_browser.py."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.test import Client, override_settings
from django.urls import reverse

from jobs import control
from jobs.console import views as console_admin
from jobs.engine.setup import app as engine_app
from jobs.models import TaskResult
from tests.testapp import tasks

pytestmark = pytest.mark.django_db

PAGES = ["jobs_console", "jobs_console_queues", "jobs_console_workers", "jobs_console_running",
         "jobs_console_scheduled", "jobs_console_tasks", "jobs_console_dead", "jobs_console_metrics",
         "jobs_console_periodic"]


def urls() -> list[str]:
    out = [reverse(f"admin:{name}") for name in PAGES]
    out += [reverse("admin:jobs_console_task", args=["t-1"]), reverse("admin:jobs_console_dead_letter", args=["d-1"]),
            reverse("admin:jobs_console_metric", args=["tests.testapp.tasks.add"])]
    return out + [f"{u}?fragment=1" for u in out]


def user(*perms: str, staff: bool = True, name: str = "ops") -> Client:
    account = User.objects.create_user(name, password="pw", is_staff=staff)
    account.user_permissions.add(*[Permission.objects.get(codename=p) for p in perms])
    client = Client()
    client.force_login(account)
    return client


def act(client: Client, action: str, *targets: str, confirmed: bool = True, **headers: str):
    data = {"action": action, "target": list(targets), "next": reverse("admin:jobs_console_queues")}
    data.update({name: headers.pop(name) for name in list(headers) if name.startswith("due_")})
    if confirmed:
        data["confirmed"] = "1"
    return client.post(reverse("admin:jobs_console_act"), data, **headers)


def test_every_page_and_fragment_is_for_its_viewers_only(r):
    anonymous, outsider = Client(), user(staff=False, name="customer")
    staff_only, viewer = user(name="staff"), user("view_console", name="viewer")
    for url in urls():
        for client in (anonymous, outsider):
            response = client.get(url)
            assert response.status_code == 302 and "/admin/login/" in response["Location"], url
        assert staff_only.get(url).status_code == 403, url
        assert viewer.get(url).status_code == 200, url
    assert reverse("admin:jobs_console") == "/admin/jobs/console/"
    index = viewer.get(reverse("admin:index")).content.decode()
    assert 'href="/admin/jobs/console/"' in index  # "Console" under Jobs
    assert 'href="/admin/jobs/console/"' not in staff_only.get(reverse("admin:index")).content.decode()


def test_actions_need_the_right_to_operate_a_post_and_the_same_origin(r):
    tasks.add.apply_async((1, 1), queue="bulk")
    viewer, operator = user("view_console", name="viewer"), user("view_console", "operate_console", name="op")
    assert act(viewer, "pause", "bulk").status_code == 403
    assert 'value="pause"' not in viewer.get(reverse("admin:jobs_console_queues")).content.decode()
    assert operator.get(reverse("admin:jobs_console_act") + "?action=pause&target=bulk").status_code == 405
    assert act(operator, "pause", "bulk", HTTP_SEC_FETCH_SITE="cross-site").status_code == 403
    assert act(operator, "pause", "bulk", HTTP_ORIGIN="https://evil.example").status_code == 403
    assert control.paused() == {}
    with override_settings(CSRF_TRUSTED_ORIGINS=["https://ops.example"]):  # the site behind its proxy's name
        assert act(operator, "resume", "bulk", HTTP_ORIGIN="https://ops.example").status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(User.objects.get(username="op"))
    assert act(strict, "pause", "bulk").status_code == 403  # no CSRF token
    assert control.paused() == {}

    done = act(operator, "pause", "bulk", HTTP_SEC_FETCH_SITE="same-origin", HTTP_ORIGIN="http://testserver")
    assert done.status_code == 302 and done["Location"] == reverse("admin:jobs_console_queues")
    assert list(control.paused()) == ["bulk"]
    entry = LogEntry.objects.get(object_repr__startswith="console: pause")
    assert entry.user.username == "op" and "pause" in entry.object_repr and "Paused: bulk" in entry.change_message
    page = operator.get(reverse("admin:jobs_console_queues")).content.decode()
    assert "PAUSED" in page and 'value="resume"' in page


def test_a_purge_asks_first_saying_how_many_then_deletes(r):
    for i in range(3):
        tasks.add.apply_async((i, i), queue="bulk")
    operator = user("view_console", "operate_console")
    confirm = act(operator, "purge", "bulk", confirmed=False)
    page = confirm.content.decode()
    assert confirm.status_code == 200 and "3 messages</strong> waiting will be deleted" in page
    assert engine_app.current().broker.controls.queue_length("bulk") == 3  # asked, nothing done yet
    act(operator, "purge", "bulk")
    assert engine_app.current().broker.controls.queue_length("bulk") == 0
    assert "3 message(s) deleted from queue bulk" in LogEntry.objects.get().change_message


def test_values_are_escaped_and_arguments_redacted(r, settings):
    TaskResult.objects.create(task_id="t-1", name="shop.tasks.<b>charge</b>", status="FAILURE",
                              args='["<script>alert(1)</script>"]', traceback="ValueError: <i>no</i>")
    viewer = user("view_console")
    page = viewer.get(reverse("admin:jobs_console_task", args=["t-1"])).content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<i>no</i>" not in page and "&lt;i&gt;no&lt;/i&gt;" in page
    listing = viewer.get(reverse("admin:jobs_console_tasks") + "?args=alert").content.decode()
    assert "t-1" in listing and "<b>charge</b>" not in listing

    later = tasks.sign_in.apply_async(("<i>x</i>", "hunter2"), countdown=600)  # JOBS["REDACT"]: password
    page = viewer.get(reverse("admin:jobs_console_scheduled")).content.decode()
    assert later.id in page and "hunter2" not in page and "&lt;i&gt;x&lt;/i&gt;" in page


# -- the whole scheduled set and every dead letter (issue 23) ---------------------------------------

def schedule_many(n: int) -> list[str]:
    """n countdown messages in one round trip (the engine's bulk enqueue), soonest first by index."""
    app = engine_app.current()
    messages = [tasks.add.message((i, i), countdown=600 + i / 100) for i in range(n)]
    app.broker.sends.enqueue(messages)
    return [m.id for m in messages]


def follow(client: Client, response) -> tuple[Any, int]:
    """Post each progress page's form on, as console.js does, until the action redirects."""
    steps = 0
    while response.status_code == 200:
        page = response.content.decode()
        assert 'class="jobs-continue"' in page and "<progress" in page
        form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
        response = client.post(reverse("admin:jobs_console_act"), form)
        steps += 1
    return response, steps


@pytest.mark.parametrize("action, verb", [("run_all_scheduled", "sent to their queues now"),
                                          ("delete_all_scheduled", "deleted")])
def test_run_all_and_delete_all_act_on_every_scheduled_message(r, monkeypatch, action, verb):
    """More than the 20,000 that run/delete reached before: all of them, in batches, the progress shown."""
    monkeypatch.setattr(console_admin, "SWEEP_SECONDS", 0)  # one batch a request: the progress page shows
    monkeypatch.setattr(control, "SWEEP_BATCH", 5_000)
    n = 20_500
    schedule_many(n)
    broker = engine_app.current().broker
    operator = user("view_console", "operate_console")
    listing = operator.get(reverse("admin:jobs_console_scheduled")).content.decode()
    assert f'value="{action}"' in listing and f"Every one of the {n}" in listing
    confirm = act(operator, action, "all", confirmed=False)
    assert confirm.status_code == 200 and f"all {n} scheduled tasks?" in confirm.content.decode()
    assert broker.scheduled.count() == n  # asked, nothing done yet
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', confirm.content.decode()))
    first = operator.post(reverse("admin:jobs_console_act"), form)
    assert "5,000 of the 20,500 counted when you confirmed so far" in first.content.decode()
    done, steps = follow(operator, first)
    assert done.status_code == 302 and steps == 4
    assert broker.scheduled.count() == 0
    assert broker.controls.queue_length("default") == (n if action == "run_all_scheduled" else 0)
    said = [m.message for m in get_messages(done.wsgi_request)]
    assert said == [f"20,500 scheduled task(s) {verb}, of the 20,500 counted when you confirmed; 0 scheduled now."]
    assert LogEntry.objects.filter(object_repr__startswith=f"console: {action}").count() == 5


def test_a_run_all_stopped_halfway_says_what_it_left(r, monkeypatch):
    monkeypatch.setattr(console_admin, "SWEEP_SECONDS", 0)
    monkeypatch.setattr(control, "SWEEP_BATCH", 2)
    schedule_many(5)
    operator = user("view_console", "operate_console")
    confirm = act(operator, "delete_all_scheduled", "all", confirmed=False)
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', confirm.content.decode()))
    page = operator.post(reverse("admin:jobs_console_act"), form).content.decode()
    assert "2 scheduled task(s) deleted; 2 of the 5 counted when you confirmed so far" in page
    assert "the 3 not reached yet" in page and 'id="jobs-stop"' in page
    assert engine_app.current().broker.scheduled.count() == 3  # stopped there: the rest stay
    schedule_many(1)  # scheduled since: after the last one counted, so not part of it
    form["taken"], form["done"] = "2", "2"
    done, _ = follow(operator, operator.post(reverse("admin:jobs_console_act"), form))
    [said] = [m.message for m in get_messages(done.wsgi_request)]
    assert said.startswith("5 scheduled task(s) deleted, of the 5 counted") and said.endswith(
        "1 scheduled now (scheduled since, or due after the last one counted).")


def test_run_now_and_delete_reach_a_row_past_the_first_20000(r):
    ids = schedule_many(20_500)
    broker = engine_app.current().broker
    operator = user("view_console", "operate_console")
    page = operator.get(reverse("admin:jobs_console_scheduled") + "?page=409").content.decode()  # rows 20,450..
    due = dict(re.findall(r'<input type="hidden" name="due_([^"]+)" value="([^"]*)"', page))
    assert ids[20_499] in due and len(due) == 50
    last, other = ids[20_499], ids[20_450]
    sent = act(operator, "run_scheduled", last, **{f"due_{last}": due[last]})
    assert [m.message for m in get_messages(sent.wsgi_request)] == ["1 scheduled task(s) sent to their queues now."]
    confirm = act(operator, "delete_scheduled", other, confirmed=False, **{f"due_{other}": due[other]})
    assert f'name="due_{other}" value="{due[other]}"' in confirm.content.decode()  # carried on to the deletion
    act(operator, "delete_scheduled", other, **{f"due_{other}": due[other]})
    act(operator, "delete_scheduled", ids[20_300])  # no due time given: looked for in the whole set
    assert broker.scheduled.count() == 20_497 and broker.controls.queue_length("default") == 1


def test_the_dead_letter_filter_searches_all_of_them(r):
    """6,000 dead letters (the filter read the newest 5,000): the oldest that matches is listed."""
    k = engine_app.current().keys
    pipe = r.pipeline(transaction=False)
    for i in range(6_000):
        name = "shop.rare" if i == 0 else "shop.common"
        record = {"id": f"d-{i}", "task_id": f"d-{i}", "task": name, "queue": "default", "score": 5,
                  "reason": "unknown task", "worker": "", "time": 1_700_000_000 + i, "message": "x"}
        pipe.hset(k.dead, f"d-{i}", json.dumps(record))
        pipe.zadd(k.dead_order, {f"d-{i}": 1_700_000_000_000 + i})
    pipe.execute()
    viewer = user("view_console")
    page = viewer.get(reverse("admin:jobs_console_dead") + "?task=rare").content.decode()
    assert "6000 dead letter(s)" in page and reverse("admin:jobs_console_dead_letter", args=["d-0"]) in page
    assert "No dead letters match" not in page
