"""Every state-changing door of the console and of the jobs admin, one by one, enumerated from the code
(the console's ACTIONS table and URLconf, each ModelAdmin's actions), so that an action added later is
covered, or fails here until it is:

- a GET (or HEAD, PUT, DELETE) of the console's action URL is 405, a POST to any of its pages too;
- a POST without the CSRF token is 403, one from another origin is 403;
- a staff user who may view but not act gets 403 on each console action, and each admin action
  leaves the rows as they were;
- a user with exactly the right docs/console.md and docs/security.md name does it.

"Changes nothing" is checked on the whole Redis keyspace (every key's DUMP) and the admin's history,
not on what one action is expected to touch."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse, reverse_lazy

from jobs import control
from jobs.console.actions import ACTIONS, SWEEPS
from jobs.engine.setup import app as engine_app
from jobs.models import Console, CrontabSchedule, PeriodicTask, TaskResult
from tests.testapp import tasks

pytestmark = pytest.mark.django_db

ACT = reverse_lazy("admin:jobs_console_act")


def user(*perms: str, name: str) -> Client:
    account = User.objects.create_user(name, password="pw", is_staff=True)
    account.user_permissions.add(*[Permission.objects.get(codename=p) for p in perms])
    client = Client()
    client.force_login(account)
    return client


def snapshot(r: Any) -> tuple[dict[bytes, bytes], int]:
    """All of Redis (each key's DUMP) and the number of admin history entries."""
    return {key: r.dump(key) for key in sorted(r.keys("*"))}, LogEntry.objects.count()


def world(r: Any) -> dict[str, list[str]]:
    """Something for every console action to act on, so that an action that runs cannot go unseen:
    action -> its targets. A new action in ACTIONS must be given targets here."""
    broker = engine_app.current().broker
    for i in range(2):
        tasks.add.apply_async((i, i), queue="bulk")
    tasks.add.apply_async((1, 1), queue="held")
    broker.controls.pause("held")
    queued = tasks.add.apply_async((5, 5), queue="bulk").id
    later = [tasks.add.apply_async((i, i), countdown=3600).id for i in range(2)]
    worker_id = "web-1.abc123"
    seconds, micros = r.time()
    r.zadd(broker.keys.workers, {worker_id: seconds * 1000 + micros // 1000})  # a live heartbeat
    for i in range(2):
        tasks.add.apply_async((i, 0), queue="graveyard")
    fetched = broker.deliveries.fetch(broker.deliveries.plan(["graveyard"], "w.0.0."), 10, 0)
    for delivery in fetched.deliveries:
        broker.runs.bury(delivery.token, "it cannot run")
    dead = [key.decode() for key in r.hkeys(broker.keys.dead)]
    recorded = TaskResult.objects.create(task_id=str(uuid.uuid4()), name="tests.testapp.tasks.add", status="FAILURE",
                                         args="[1, 2]", kwargs="{}", args_complete=True, queue="default").task_id
    return {"purge": ["bulk"], "pause": ["bulk"], "resume": ["held"], "shutdown": [worker_id],
            "revoke": [queued], "terminate": [queued], "run_scheduled": [later[0]], "delete_scheduled": [later[1]],
            "run_again": [recorded], "requeue_dead": [dead[0]], "discard_dead": [dead[1]],
            # The whole scheduled set: no targets; act() posts what their confirm page states.
            "run_all_scheduled": [], "delete_all_scheduled": []}


def act(client: Client, action: str, targets: list[str], **extra: Any) -> Any:
    data: dict[str, Any] = {"action": action, "target": targets, "confirmed": "1",
                            "next": "/admin/jobs/console/queues/"}
    if action in SWEEPS:  # where a "run all" / "delete all" stands, as its confirm page posts it
        total, upto = control.monitor().scheduled_extent()
        data |= {"upto": repr(upto), "total": str(total)}
    return client.post(ACT, data, **extra)


def test_every_console_action_is_covered_here(r):
    assert sorted(world(r)) == sorted(ACTIONS), "give each console action targets in world()"


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_a_viewer_cannot_act(r, action):
    targets = world(r)[action]
    viewer = user("view_console", name="viewer")
    # Every other right of the jobs app too: only operate_console lets one act from the console.
    everything_else = user(*Permission.objects.filter(content_type__app_label="jobs").exclude(
        codename="operate_console").values_list("codename", flat=True), name="almost")
    before = snapshot(r)
    for client in (viewer, everything_else):
        response = act(client, action, targets)
        assert response.status_code == 403, (action, response.status_code)
        unconfirmed = client.post(ACT, {"action": action, "target": targets})
        assert unconfirmed.status_code == 403
    assert snapshot(r) == before, f"{action} by a viewer changed something"


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_an_action_is_a_post_with_the_csrf_token_from_this_site(r, action):
    targets = world(r)[action]
    account = User.objects.create_user("op", password="pw", is_staff=True)
    account.user_permissions.add(*Permission.objects.filter(codename__in=["view_console", "operate_console"]))
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(account)
    query = {"action": action, "target": targets, "confirmed": "1"}
    before = snapshot(r)
    for method in ("get", "head"):
        response = getattr(strict, method)(ACT, query)
        assert response.status_code == 405 and response["Allow"] == "POST", (method, response.status_code)
    for method in ("put", "delete", "patch"):  # refused by the CSRF check first, or as not a POST
        assert getattr(strict, method)(ACT).status_code in (403, 405), method
    assert act(strict, action, targets).status_code == 403  # no CSRF token
    strict.get(reverse("admin:jobs_console"))  # a page of the site: the CSRF cookie
    token = strict.cookies["csrftoken"].value
    for headers in ({"HTTP_ORIGIN": "https://evil.example"}, {"HTTP_SEC_FETCH_SITE": "cross-site"},
                    {"HTTP_SEC_FETCH_SITE": "same-site"},
                    {"secure": True, "HTTP_REFERER": "https://evil.example/"},  # HTTPS: Django checks Referer
                    {"secure": True}):  # HTTPS without a Referer
        response = act(strict, action, targets, HTTP_X_CSRFTOKEN=token, **headers)
        assert response.status_code == 403, (headers, response.status_code)
    assert snapshot(r) == before, f"{action} refused, and yet something changed"

    # With the token, from the site's own page, by a user with exactly the documented rights.
    response = act(strict, action, targets, HTTP_X_CSRFTOKEN=token, HTTP_ORIGIN="http://testserver",
                   HTTP_SEC_FETCH_SITE="same-origin")
    assert response.status_code == 302 and response["Location"] == "/admin/jobs/console/queues/"
    after = snapshot(r)
    assert after[0] != before[0], f"{action} was allowed and did nothing"
    assert after[1] == before[1] + 1 and LogEntry.objects.latest("id").user.username == "op"


@pytest.mark.parametrize("action", sorted(name for name, action in ACTIONS.items() if action.asks))
def test_what_asks_first_changes_nothing_until_confirmed(r, action):
    targets = world(r)[action]
    operator = user("view_console", "operate_console", name="op")
    before = snapshot(r)
    page = operator.post(ACT, {"action": action, "target": targets, "next": "javascript:window.__xss=1"})
    assert page.status_code == 200 and b'id="jobs-confirm"' in page.content
    assert b"javascript:" not in page.content  # the way back is this site's, not what was posted
    assert snapshot(r) == before


def test_no_page_of_the_console_changes_anything_or_takes_a_post(r):
    world(r)
    viewer = user("view_console", name="viewer")
    pages = [p for p in admin.site._registry[Console].get_urls() if p.name != "jobs_console_act"]
    assert len(pages) >= 12
    before = snapshot(r)
    for pattern in pages:
        url = reverse(f"admin:{pattern.name}", args=["x-1"] * len(pattern.pattern.converters))
        assert viewer.get(url).status_code == 200, url
        assert viewer.get(url + "?fragment=1").status_code == 200, url
        assert viewer.post(url, {"action": "purge", "target": "bulk"}).status_code == 405, url
    assert snapshot(r) == before


# -- the admin's own actions: Django's permission checks, our rights -----------------------------

def admin_world(r: Any) -> dict[tuple[type, str], tuple[list[int], str]]:
    """(model, action) -> (the rows it acts on, the one right besides view that lets a user run it)."""
    schedule = CrontabSchedule.objects.create(minute="0", hour="3")
    periodic = PeriodicTask.objects.create(name="nightly", task="tests.testapp.tasks.add", schedule=schedule,
                                           args=[1, 2], enabled=False)
    done = TaskResult.objects.create(task_id=str(uuid.uuid4()), name="tests.testapp.tasks.add", status="FAILURE",
                                     args="[1, 2]", kwargs="{}", args_complete=True, queue="default")
    queued = tasks.add.delay(3, 4).id
    waiting = TaskResult.objects.create(task_id=queued, name="tests.testapp.tasks.add", status="PENDING",
                                        args="[3, 4]", kwargs="{}", args_complete=True, queue="default")
    return {(PeriodicTask, "enable"): ([periodic.pk], "change_periodictask"),
            (PeriodicTask, "disable"): ([periodic.pk], "change_periodictask"),
            (PeriodicTask, "run_now"): ([periodic.pk], "run_periodictask"),
            (TaskResult, "run_again"): ([done.pk], "rerun_taskresult"),
            (TaskResult, "revoke"): ([waiting.pk], "revoke_taskresult"),
            (TaskResult, "revoke_terminate"): ([waiting.pk], "revoke_taskresult")}


def admin_actions() -> list[tuple[type, str]]:
    return [(model, name) for model in (PeriodicTask, TaskResult) for name in admin.site._registry[model].actions]


def rows(model: type) -> list[dict[str, Any]]:
    return list(model.objects.order_by("pk").values())


def test_every_admin_action_is_covered_here(r):
    assert sorted(admin_world(r), key=str) == sorted(admin_actions(), key=str), "give each admin action rows"


@pytest.mark.parametrize(("model", "action"), admin_actions(), ids=lambda v: getattr(v, "__name__", v))
def test_an_admin_action_needs_its_own_right(r, model, action):
    pks, right = admin_world(r)[(model, action)]
    if action == "disable":
        PeriodicTask.objects.update(enabled=True)  # made disabled, for "enable" to have something to do
    url = reverse(f"admin:jobs_{model._meta.model_name}_changelist")
    data = {"action": action, "_selected_action": pks, "index": "0"}
    view_only = user("view_periodictask", "view_taskresult", "view_console", name="viewer")
    before = snapshot(r), rows(model)
    response = view_only.post(url, data)
    assert response.status_code in (200, 302, 403), response.status_code
    assert (snapshot(r), rows(model)) == before, f"{action} by a viewer changed something"
    assert view_only.get(url + f"?action={action}&_selected_action={pks[0]}").status_code in (200, 302)
    assert (snapshot(r), rows(model)) == before

    allowed = user(f"view_{model._meta.model_name}", right, name="allowed")
    response = allowed.post(url, data)
    assert response.status_code == 302, response.status_code
    assert (snapshot(r), rows(model)) != before, f"{action} was allowed and did nothing"
