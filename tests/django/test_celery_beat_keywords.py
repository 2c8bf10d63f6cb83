"""Code written for django-celery-beat's models, run on jobs' (jobs/models/celery_beat_keywords.py): its schedule
keywords and attributes on top of the one `schedule`, ZoneInfo time zones, args and kwargs as JSON text;
and what jobs cannot carry refused where it is said, saying what to do instead."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Q

from jobs.engine.wire.message import decode
from jobs.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask
from jobs.stores.schedules_db import ScheduleDatabase
from tests.django.test_beat import every, queued

pytestmark = pytest.mark.django_db(transaction=True)

UTC = dt.timezone.utc
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
LATER = dt.datetime(2030, 1, 1, 8, tzinfo=UTC)


@pytest.fixture
def kinds():
    return (IntervalSchedule.objects.create(every=10, period=IntervalSchedule.MINUTES),
            CrontabSchedule.objects.create(minute="0", hour="8", timezone="Europe/Berlin"),
            ClockedSchedule.objects.create(clocked_time=LATER))


def test_each_kind_as_a_keyword_and_an_attribute_to_read(kinds):
    interval, crontab, clocked = kinds
    a = PeriodicTask.objects.create(name="a", task="shop.sync", interval=interval)
    b = PeriodicTask(name="b", task="shop.report", crontab=crontab)
    b.save()
    c = PeriodicTask.objects.create(name="c", task="shop.remind", clocked=clocked, one_off=True)
    for row in (a, b, c, *PeriodicTask.objects.order_by("name")):  # as made, and as loaded (a Schedule row)
        kind = {"a": "interval", "b": "crontab", "c": "clocked"}[row.name]
        assert row.schedule.pk == {"interval": interval, "crontab": crontab, "clocked": clocked}[kind].pk
        for name, schedule in (("interval", interval), ("crontab", crontab), ("clocked", clocked)):
            assert getattr(row, name) == (schedule if name == kind else None)
        assert row.solar is None and row.expires is None and row.exchange is None and row.headers == "{}"
    loaded = PeriodicTask.objects.get(name="b")
    assert isinstance(loaded.crontab, CrontabSchedule) and loaded.crontab.hour == "8"


def test_setting_a_kind_makes_it_the_schedule_and_none_clears_only_its_own(kinds):
    interval, crontab, _ = kinds
    row = PeriodicTask.objects.create(name="a", task="shop.sync", interval=interval)
    row.crontab, row.interval = crontab, None  # django-celery-beat code sets one and clears the other,
    row.save()                                  # in either order
    row.refresh_from_db()
    assert row.crontab == crontab and row.interval is None
    row.interval = None  # not its kind: nothing changes
    assert row.schedule_id == crontab.pk
    row.crontab = None
    with pytest.raises(ValidationError, match="a periodic task needs a schedule: give schedule="):
        row.save()


def test_two_schedules_or_the_wrong_kind_are_refused_saying_which(kinds):
    interval, crontab, _ = kinds
    with pytest.raises(ValueError, match="one schedule, and interval and crontab were given: keep one"):
        PeriodicTask(name="a", task="shop.sync", interval=interval, crontab=crontab)
    with pytest.raises(ValueError, match="schedule and interval were given"):
        PeriodicTask.objects.create(name="a", task="shop.sync", schedule=crontab, interval=interval)
    with pytest.raises(TypeError, match="interval must be a IntervalSchedule or None, not CrontabSchedule .it is "
                                        "a CrontabSchedule: give it as crontab=."):
        PeriodicTask(name="a", task="shop.sync", interval=crontab)
    assert not PeriodicTask.objects.exists()


def test_update_or_create_and_get_or_create_with_the_keywords(kinds):
    interval, crontab, _ = kinds
    row, created = PeriodicTask.objects.update_or_create(
        name="sync", defaults={"task": "shop.sync", "interval": interval, "args": json.dumps([1, "a"])})
    assert created and row.interval == interval and row.args == [1, "a"]
    row, created = PeriodicTask.objects.update_or_create(
        name="sync", defaults={"crontab": crontab, "interval": None, "kwargs": '{"full": false}'})
    assert not created
    row = PeriodicTask.objects.get(name="sync")
    assert row.crontab == crontab and row.interval is None and row.kwargs == {"full": False}
    same, created = PeriodicTask.objects.get_or_create(name="sync", crontab=crontab, defaults={"task": "x.y"})
    assert not created and same.pk == row.pk
    other, created = PeriodicTask.objects.get_or_create(name="other", interval=interval, task="shop.other")
    assert created and other.interval == interval


def test_lookups_by_the_kinds(kinds):
    interval, crontab, clocked = kinds
    a = PeriodicTask.objects.create(name="a", task="t.a", interval=interval)
    b = PeriodicTask.objects.create(name="b", task="t.b", crontab=crontab)
    c = PeriodicTask.objects.create(name="c", task="t.c", clocked=clocked)

    def names(queryset):
        return sorted(row.name for row in queryset)

    assert names(PeriodicTask.objects.filter(interval=interval)) == ["a"]
    assert names(PeriodicTask.objects.filter(interval_id=interval.id)) == ["a"]
    assert names(PeriodicTask.objects.filter(crontab__hour="8", crontab__timezone="Europe/Berlin")) == ["b"]
    assert names(PeriodicTask.objects.exclude(clocked__isnull=True)) == ["c"]
    assert names(PeriodicTask.objects.filter(interval__isnull=True)) == ["b", "c"]
    assert names(PeriodicTask.objects.filter(Q(interval=interval) | Q(clocked=clocked))) == ["a", "c"]
    assert PeriodicTask.objects.get(crontab=crontab) == b
    assert PeriodicTask.objects.filter(pk=a.pk).update(crontab=crontab) == 1
    assert PeriodicTask.objects.get(name="a").crontab == crontab
    with pytest.raises(ValueError, match="would leave the periodic tasks without a schedule"):
        PeriodicTask.objects.filter(pk=c.pk).update(clocked=None)


def test_the_other_fields_keep_their_names():
    start, last = dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2026, 2, 1, tzinfo=UTC)
    PeriodicTask.objects.create(
        name="all", task="shop.sync", interval=every(30), args='["a"]', kwargs='{"b": 2}', queue="reports",
        priority=5, expire_seconds=60, one_off=True, enabled=False, description="d", start_time=start,
        last_run_at=last, total_run_count=4, expires=None, solar=None, exchange=None, routing_key=None,
        headers="{}")
    row = PeriodicTask.objects.get(name="all")
    assert (row.args, row.kwargs, row.queue, row.priority, row.expire_seconds, row.one_off, row.enabled,
            row.description, row.start_time, row.last_run_at, row.total_run_count) == (
        ["a"], {"b": 2}, "reports", 5, 60, True, False, "d", start, last, 4)


@pytest.mark.parametrize("field, value, says", [
    ("exchange", "direct", "exchange='direct': jobs has no AMQP exchanges: a periodic task's queue= says"),
    ("routing_key", "reports", "routing_key='reports': jobs has no AMQP routing keys"),
    ("headers", '{"h": 1}', "headers=.*carry no custom headers in jobs: pass what the task needs in args"),
    ("solar", object(), "solar=.*jobs has no solar schedules"),
])
def test_what_jobs_cannot_carry_is_refused_when_said(field, value, says):
    with pytest.raises(ValueError, match=says):
        PeriodicTask.objects.create(name="a", task="shop.sync", schedule=every(5), **{field: value})
    assert not PeriodicTask.objects.exists()


def test_a_priority_outside_0_to_9_is_refused_at_save():
    with pytest.raises(ValidationError, match="priority 200 is not a whole number 0-9: 9 runs first"):
        PeriodicTask.objects.create(name="a", task="shop.sync", interval=every(5), priority=200)


def test_a_crontab_takes_a_zoneinfo_and_stores_its_name():
    berlin = CrontabSchedule.objects.create(minute="0", hour="8", timezone=BERLIN)
    assert berlin.timezone == "Europe/Berlin" and berlin.engine().timezone == "Europe/Berlin"
    berlin.refresh_from_db()
    assert berlin.timezone == "Europe/Berlin"
    same, created = CrontabSchedule.objects.get_or_create(minute="0", hour="8", timezone=BERLIN)
    assert not created and same.pk == berlin.pk
    utc = CrontabSchedule(minute="0", timezone=dt.timezone.utc)
    utc.full_clean()
    assert utc.timezone == "UTC"
    with pytest.raises(ValueError, match="has no IANA name .a fixed offset does not follow DST changes.: give a zone"):
        CrontabSchedule(timezone=dt.timezone(dt.timedelta(hours=2)))


def test_args_as_json_text_are_read_and_bad_ones_refused_at_save():
    schedule = every(5)
    row = PeriodicTask(name="text", task="shop.sync", interval=schedule, args=json.dumps(["a", 1, "b"] * 4),
                       kwargs=json.dumps({"full": True}))
    row.save()
    row.refresh_from_db()
    assert row.args == ["a", 1, "b"] * 4 and row.kwargs == {"full": True}
    for field, value, says in (("args", '{"a": 1}', "args must be a JSON list"),
                               ("args", '["a", 1', "args is text that is not JSON"),
                               ("kwargs", "[1, 2]", "kwargs must be a JSON object"),
                               ("args", json.dumps(json.dumps([1])), "args must be a JSON list.*not str")):
        with pytest.raises(ValidationError, match=says):
            PeriodicTask.objects.create(name="bad", task="shop.sync", interval=schedule, **{field: value})
    assert list(PeriodicTask.objects.values_list("name", flat=True)) == ["text"]


def test_bulk_create_reads_json_text_and_refuses_what_save_refuses():
    schedule = every(5)
    PeriodicTask.objects.bulk_create([PeriodicTask(name="a", task="shop.sync", interval=schedule, args='["x"]')])
    assert PeriodicTask.objects.get(name="a").args == ["x"]
    with pytest.raises(ValidationError, match="args must be a JSON list"):
        PeriodicTask.objects.bulk_create([PeriodicTask(name="b", task="shop.sync", interval=schedule,
                                                       args='{"x": 1}')])
    assert [e.args for e in ScheduleDatabase().load()] == [["x"]]


def test_run_now_sends_json_text_stored_around_the_model_as_its_list(admin_client, r):
    """The symptom of the issue: a row holding JSON text was sent with its characters as arguments."""
    row = PeriodicTask.objects.create(name="echo", task="tests.testapp.tasks.add", interval=every(3600))
    PeriodicTask.objects.filter(pk=row.pk).update(args=json.dumps([2, 3]))  # an update() skips save()
    response = admin_client.post("/admin/jobs/periodictask/", {"action": "run_now", "_selected_action": [row.pk]},
                                 follow=True)
    assert "Sent now: echo" in response.content.decode()
    [wire] = r.zrange("{jobs}:queue:default", 0, -1)
    assert len(queued(r)) == 1 and decode(wire, "default", ("json",)).args == (2, 3)
