"""The operations console (jobs/console): every page and fragment for its viewers only, every action a
same-origin POST with CSRF by someone with the right to operate, confirmed first where it deletes or
stops, written to the admin's history; values escaped, arguments redacted. Against a real Redis (the
`r` fixture); the pages with live workers are walked by tests/acceptance/test_console_browser.py."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.test import Client, override_settings
from django.urls import reverse

from jobs import control
from jobs.engine import app as engine_app
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
    assert engine_app.current().broker.queue_length("bulk") == 3  # asked, nothing done yet
    act(operator, "purge", "bulk")
    assert engine_app.current().broker.queue_length("bulk") == 0
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
