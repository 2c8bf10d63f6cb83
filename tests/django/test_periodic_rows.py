"""What a periodic task row may hold, however it is saved (the admin, the ORM, a copy of
django-celery-beat's data), and who may run one now. Beat must be able to send every row it loads,
and one row it cannot send must never stop the others."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import ValidationError
from django.test import Client

from jobs.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from jobs.schedules import crontab
from jobs.stores.schedules_db import ScheduleDatabase, sync_settings
from tests.django.test_beat import every, new_beat, periodic, queued

pytestmark = pytest.mark.django_db(transaction=True)

UTC = dt.timezone.utc


def form(**fields):
    return {"name": "bad", "enabled": "on", "task": "tests.testapp.tasks.add", "schedule": every(5).pk,
            "args": "[]", "kwargs": "{}", "catch_up": "once", **fields}


@pytest.mark.parametrize("field, value", [("task", "rt.ok|x"), ("task", "two words"), ("queue", "a|b"),
                                          ("queue", "x" * 201)])
def test_a_name_that_would_break_the_message_is_a_form_error(admin_client, r, field, value):
    response = admin_client.post("/admin/jobs/periodictask/add/", form(**{field: value}))
    assert response.status_code == 200  # the form again, with the error on the field
    errors = response.context["adminform"].form.errors
    assert field in errors and not PeriodicTask.objects.exists()


def test_the_orm_refuses_such_a_row_too_naming_the_field(r):
    with pytest.raises(ValidationError) as error:
        PeriodicTask.objects.create(name="orm", task="rt.ok|x", schedule=every(5))
    assert "task" in error.value.message_dict


def test_args_and_kwargs_stored_as_json_text_are_read_at_save_time(r):
    """django-celery-beat stores them as JSON text: kwargs='{"tag": "x"}' is a dict once saved."""
    row = PeriodicTask.objects.create(name="text", task="tests.testapp.tasks.echo", schedule=every(5),
                                      args='["a", 1]', kwargs='{"tag": "x"}')
    row.refresh_from_db()
    assert row.args == ["a", 1] and row.kwargs == {"tag": "x"}
    with pytest.raises(ValidationError, match="kwargs must be a JSON object"):
        PeriodicTask.objects.create(name="list-as-kwargs", task="t.x", schedule=every(5), kwargs="[1]")


def test_one_bad_row_never_stops_beat_from_loading_the_others(r, caplog):
    good = periodic("good", every(1), created=dt.datetime.now(UTC) - dt.timedelta(seconds=5))
    periodic("bad kwargs", every(1))
    periodic("bad task", every(1))
    # Saved around the model's checks, as an update() or raw SQL can: beat must cope.
    PeriodicTask.objects.filter(name="bad kwargs").update(kwargs='{"tag": "x"', task="tests.testapp.tasks.echo")
    PeriodicTask.objects.filter(name="bad task").update(task="rt.ok|x")
    entries = ScheduleDatabase().load()
    assert [e.name for e in entries] == ["good"]
    assert "'bad kwargs' cannot be sent" in caplog.text and "'bad task' cannot be sent" in caplog.text
    new_beat().tick()
    assert queued(r) and queued(r)[0].startswith(f"beat-{good.pk}-")


def test_a_duplicate_schedule_row_does_not_stop_the_settings_sync(r):
    """An admin-made copy of a schedule that the settings sync also uses."""
    CrontabSchedule.objects.create(minute="0", hour="8", timezone="UTC")
    CrontabSchedule.objects.create(minute="0", hour="8", timezone="UTC")
    IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES)
    IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES)
    sync_settings({"morning": {"task": "tests.testapp.tasks.add", "schedule": crontab(minute=0, hour=8,
                                                                                      timezone="UTC")},
                   "often": {"task": "tests.testapp.tasks.add", "schedule": 300}})
    assert PeriodicTask.objects.count() == 2


def _staff(username, *perms):
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="jobs", codename__in=perms))
    client = Client()
    client.force_login(user)
    return client


def test_running_a_task_now_is_a_permission_of_its_own(r):
    row = periodic("adder", every(3600), created=dt.datetime.now(UTC))
    editor = _staff("editor", "view_periodictask", "change_periodictask")
    page = editor.get("/admin/jobs/periodictask/").content.decode()
    assert 'value="disable"' in page and 'value="run_now"' not in page
    response = editor.post("/admin/jobs/periodictask/", {"action": "run_now", "_selected_action": [row.pk]},
                           follow=True)
    assert response.status_code == 200 and queued(r) == []  # not an action this user may take
    runner = _staff("runner", "view_periodictask", "change_periodictask", "run_periodictask")
    assert 'value="run_now"' in runner.get("/admin/jobs/periodictask/").content.decode()
    response = runner.post("/admin/jobs/periodictask/", {"action": "run_now", "_selected_action": [row.pk]},
                           follow=True)
    assert "Sent now: adder" in response.content.decode() and len(queued(r)) == 1


def test_run_now_of_a_row_it_cannot_send_says_so_and_never_answers_500(admin_client, r):
    row = periodic("broken", every(3600))
    PeriodicTask.objects.filter(pk=row.pk).update(task="rt.ok|x")
    response = admin_client.post("/admin/jobs/periodictask/", {"action": "run_now", "_selected_action": [row.pk]},
                                 follow=True)
    assert response.status_code == 200 and queued(r) == []
    [said] = [str(m) for m in response.context["messages"]]
    assert said.startswith("broken: not sent: ValueError: task name is 'rt.ok|x'")
