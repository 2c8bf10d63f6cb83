"""The admin of periodic tasks and schedules against hostile input (issue 31, break 3): what a form
cannot store is a form error, never a 500; and a row saved around the checks (the ORM's create() and
update() run no form) is shown on every page that lists it, as broken, while the others render.
Run on SQLite and on PostgreSQL (JOBS_TEST_DATABASE_URL): the database refuses NaN in its own way
on each (IntegrityError, DataError)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from jobs.engine.beat.crontab import Crontab, zone
from jobs.engine.errors import ScheduleError
from jobs.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask
from tests.django.test_beat import every

pytestmark = pytest.mark.django_db(transaction=True)


def form(**fields):
    return {"name": "x", "enabled": "on", "task": "tests.testapp.tasks.add", "schedule": every(5).pk,
            "args": "[]", "kwargs": "{}", "catch_up": "once", **fields}


@pytest.mark.parametrize("field, text", [("args", "[NaN]"), ("args", "[1, Infinity]"), ("args", "[-Infinity]"),
                                         ("kwargs", '{"x": Infinity}'), ("kwargs", '{"x": [NaN]}')])
def test_nan_or_infinity_in_args_or_kwargs_is_a_form_error(admin_client, r, field, text):
    response = admin_client.post("/admin/jobs/periodictask/add/", form(**{field: text}))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field] and "JSON" in errors[field][0] and "NaN and Infinity" in errors[field][0]
    assert not PeriodicTask.objects.exists()


@pytest.mark.parametrize("field, value", [("args", [float("nan")]), ("kwargs", {"x": float("inf")}),
                                          ("args", "[NaN]"), ("kwargs", '{"x": -Infinity}'), ("args", [{1, 2}])])
def test_the_orm_refuses_them_too_naming_the_field(r, field, value):
    with pytest.raises(ValidationError) as error:
        PeriodicTask.objects.create(name="orm", task="tests.testapp.tasks.add", schedule=every(5), **{field: value})
    [said] = error.value.message_dict[field]
    assert list(error.value.message_dict) == [field] and said.startswith(field) and "JSON" in said
    assert not PeriodicTask.objects.exists()


@pytest.mark.parametrize("name", ["America", "Europe", "zone.tab", "Europe/Berlin/", "Euro\x00pe", "UTC "])
def test_a_time_zone_that_is_not_one_is_a_schedule_error(name):
    with pytest.raises(ScheduleError, match="timezone: "):
        zone(name)
    with pytest.raises(ScheduleError, match="timezone: "):
        Crontab(minute="0", timezone=name)


def test_a_region_is_refused_naming_zones_in_it():
    with pytest.raises(ScheduleError, match="America is a region: name a zone in it, e.g. 'America/"):
        zone("America")


@pytest.mark.parametrize("name", ["America", "Europe", "zone.tab"])
def test_a_crontab_time_zone_naming_a_tz_folder_is_a_form_error(admin_client, r, name):
    response = admin_client.post("/admin/jobs/crontabschedule/add/", {
        "minute": "0", "hour": "8", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*",
        "timezone": name})
    assert response.status_code == 200 and not CrontabSchedule.objects.exists()
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["timezone"] and "unknown time zone" in errors["timezone"][0]


def broken_rows():
    """A good periodic task and one on each kind of schedule saved around the checks."""
    good = PeriodicTask.objects.create(name="good", task="tests.testapp.tasks.add",
                                       schedule=CrontabSchedule.objects.create(minute="0", hour="8", timezone="UTC"))
    america = CrontabSchedule.objects.create(minute="0", hour="8", timezone="America")  # create() runs no clean()
    PeriodicTask.objects.create(name="in America", task="tests.testapp.tasks.add", schedule=america)
    huge = IntervalSchedule.objects.create(every=1000, period=IntervalSchedule.DAYS)
    IntervalSchedule.objects.filter(pk=huge.pk).update(every=2_000_000_000)
    PeriodicTask.objects.create(name="huge interval", task="tests.testapp.tasks.add", schedule=huge)
    bad_field = CrontabSchedule.objects.create(minute="0", hour="8")
    CrontabSchedule.objects.filter(pk=bad_field.pk).update(hour="99", timezone="Europe")
    PeriodicTask.objects.create(name="hour 99", task="tests.testapp.tasks.add", schedule=bad_field)
    bad_args = PeriodicTask.objects.create(name="bad args", task="tests.testapp.tasks.add", schedule=every(60))
    PeriodicTask.objects.filter(pk=bad_args.pk).update(args={"not": "a list"}, kwargs='{"x": 1')  # JSON, not ours
    return good, america


def test_pages_show_every_stored_row_and_a_broken_one_as_broken(admin_client, r):
    good, america = broken_rows()
    for url in ("/admin/jobs/periodictask/", "/admin/jobs/periodictask/add/",
                f"/admin/jobs/periodictask/{good.pk}/change/",
                f"/admin/jobs/periodictask/{PeriodicTask.objects.get(name='in America').pk}/change/",
                f"/admin/jobs/periodictask/{PeriodicTask.objects.get(name='bad args').pk}/change/",
                "/admin/jobs/crontabschedule/", f"/admin/jobs/crontabschedule/{america.pk}/change/",
                "/admin/jobs/intervalschedule/", "/admin/jobs/clockedschedule/", "/admin/jobs/schedule/",
                reverse("admin:jobs_console_periodic")):
        response = admin_client.get(url)
        assert response.status_code in (200, 404), url  # /admin/jobs/schedule/ is not registered
    page = admin_client.get("/admin/jobs/periodictask/").content.decode()
    for name in ("good", "in America", "huge interval", "hour 99", "bad args"):
        assert f">{name}<" in page
    assert "At 08:00, every day" in page
    assert "invalid crontab schedule 0 8 * * * (America): timezone: unknown time zone &#x27;America&#x27;" in page
    assert "invalid interval schedule every 2000000000 days" in page and "at most 3650 days" in page
    assert "invalid crontab schedule 0 99 * * * (Europe)" in page
    assert page.count("schedule cannot be used") == 3  # the next run of each broken one
    crontabs = admin_client.get("/admin/jobs/crontabschedule/").content.decode()
    assert "At 08:00, every day" in crontabs and "unknown time zone &#x27;America&#x27;" in crontabs
    change = admin_client.get(f"/admin/jobs/periodictask/{good.pk}/change/").content.decode()
    assert "invalid crontab schedule 0 8 * * * (America)" in change  # an option of its schedule menu


def test_saving_a_broken_row_in_the_admin_says_what_to_fix(admin_client, r):
    _, america = broken_rows()
    response = admin_client.post(f"/admin/jobs/crontabschedule/{america.pk}/change/", {
        "minute": "0", "hour": "8", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*",
        "timezone": "America"})
    assert response.status_code == 200
    assert "America is a region" in response.context["adminform"].form.errors["timezone"][0]
    response = admin_client.post(f"/admin/jobs/crontabschedule/{america.pk}/change/", {
        "minute": "0", "hour": "8", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*",
        "timezone": "America/New_York"})
    assert response.status_code == 302
    assert str(CrontabSchedule.objects.get(pk=america.pk)) == "At 08:00, every day (America/New_York)"


def test_a_clocked_row_without_a_time_zone_reads_as_broken_not_as_an_error():
    clocked = ClockedSchedule(clocked_time=None)
    assert str(clocked).startswith("invalid clocked schedule at None: ")
