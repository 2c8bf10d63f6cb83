"""`manage.py jobs import-celery-beat` against django-celery-beat's own tables, made in the test database
as its migrations make them (its models, rebuilt here in a private app registry, created by Django's
schema editor: the DDL of whichever database the suite runs on), filled with a row of each kind."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.apps.registry import Apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, models
from django.utils import timezone

from jobs.models import IntervalSchedule, PeriodicTask, Schedule
from jobs.stores.schedules_db import ScheduleDatabase, sync_settings

pytestmark = pytest.mark.django_db(transaction=True)

UTC = dt.timezone.utc


def celery_beat_models(old: bool = False) -> dict[str, Any]:
    """django-celery-beat's models as its latest migration leaves them (0019, django-celery-beat 2.x);
    `old`: as its first migration made them (0001: no clocked or solar schedules, no crontab time zone,
    no one-off, start time, priority, headers or expire_seconds)."""
    registry = Apps()

    def model(class_name: str, **fields: Any) -> Any:
        meta = type("Meta", (), {"app_label": "django_celery_beat", "apps": registry,
                                 "db_table": f"django_celery_beat_{class_name.lower()}"})
        return type(class_name, (models.Model,), {"__module__": __name__, "Meta": meta,
                                                   "id": models.AutoField(primary_key=True), **fields})

    def fk(to: Any) -> models.ForeignKey:
        return models.ForeignKey(to, on_delete=models.CASCADE, null=True, blank=True)

    found = {"interval": model("IntervalSchedule", every=models.IntegerField(),
                               period=models.CharField(max_length=24))}
    crontab = {"minute": models.CharField(max_length=240, default="*"),
               "hour": models.CharField(max_length=96, default="*"),
               "day_of_week": models.CharField(max_length=64, default="*"),
               "day_of_month": models.CharField(max_length=124, default="*"),
               "month_of_year": models.CharField(max_length=64, default="*")}
    task = {"name": models.CharField(max_length=200, unique=True), "task": models.CharField(max_length=200),
            "args": models.TextField(blank=True, default="[]"), "kwargs": models.TextField(blank=True, default="{}"),
            "queue": models.CharField(max_length=200, null=True, default=None),
            "exchange": models.CharField(max_length=200, null=True, default=None),
            "routing_key": models.CharField(max_length=200, null=True, default=None),
            "expires": models.DateTimeField(null=True), "enabled": models.BooleanField(default=True),
            "last_run_at": models.DateTimeField(null=True), "total_run_count": models.PositiveIntegerField(default=0),
            "date_changed": models.DateTimeField(auto_now=True), "description": models.TextField(blank=True),
            "interval": fk(found["interval"])}
    if not old:
        crontab["timezone"] = models.CharField(max_length=63, default="UTC")  # timezone_field's column
        found["clocked"] = model("ClockedSchedule", clocked_time=models.DateTimeField())
        found["solar"] = model("SolarSchedule", event=models.CharField(max_length=24),
                               latitude=models.DecimalField(max_digits=9, decimal_places=6),
                               longitude=models.DecimalField(max_digits=9, decimal_places=6))
        task.update(clocked=fk(found["clocked"]), solar=fk(found["solar"]),
                    headers=models.TextField(blank=True, default="{}"),
                    priority=models.PositiveIntegerField(null=True, default=None),
                    expire_seconds=models.PositiveIntegerField(null=True), one_off=models.BooleanField(default=False),
                    start_time=models.DateTimeField(null=True))
    found["crontab"] = model("CrontabSchedule", **crontab)
    found["task"] = model("PeriodicTask", **task, crontab=fk(found["crontab"]))
    return found


@pytest.fixture
def tables(request) -> Iterator[dict[str, Any]]:
    made = celery_beat_models(old=getattr(request, "param", False))
    with connection.schema_editor() as editor:
        for m in made.values():
            editor.create_model(m)
    yield made
    with connection.schema_editor() as editor:
        for m in reversed(made.values()):
            editor.delete_model(m)


def run(*args: str) -> tuple[str, str | None]:
    """The command's report, and its error (None: exit 0)."""
    out = io.StringIO()
    try:
        call_command("jobs", "import-celery-beat", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), str(exc)
    return out.getvalue(), None


def outcomes(report: str) -> dict[str, str]:
    """name -> created / updated / unchanged / skipped / error, from the report's lines."""
    found = {}
    for line in report.splitlines():
        words = line.split()
        if line.startswith("  ") and words and words[0] in ("created", "updated", "unchanged", "skipped", "error"):
            found[line.split(None, 1)[1].split(":")[0]] = words[0]
    return found


def fill(t: dict[str, Any], now: dt.datetime) -> None:
    """A row of each kind, and of each thing the import reports."""
    minutes = t["interval"].objects.create(every=10, period="minutes")
    micro = t["interval"].objects.create(every=30_000_000, period="microseconds")
    sub_second = t["interval"].objects.create(every=1_500_000, period="microseconds")
    berlin = t["crontab"].objects.create(minute="0", hour="8", day_of_week="1-5", timezone="Europe/Berlin")
    listed = t["crontab"].objects.create(minute="0", hour="[8, 20]", day_of_month="1, 15", timezone="UTC")
    later = t["clocked"].objects.create(clocked_time=now + dt.timedelta(days=30))
    past = t["clocked"].objects.create(clocked_time=now - dt.timedelta(days=30))
    sunrise = t["solar"].objects.create(event="sunrise", latitude=Decimal("52.52"), longitude=Decimal("13.405"))
    task = t["task"].objects.create
    task(name="sync", task="shop.tasks.sync", interval=minutes, args='["a", 1]', kwargs='{"full": false}',
         queue="reports", priority=3, expire_seconds=60, description="every ten", total_run_count=5,
         last_run_at=now - dt.timedelta(minutes=3), start_time=dt.datetime(2025, 1, 1, tzinfo=UTC))
    task(name="morning report", task="shop.tasks.report", crontab=berlin, exchange="reports", routing_key="reports",
         headers='{"tenant": "a"}', queue=None)
    task(name="twice a day", task="shop.tasks.report", crontab=listed, args="", kwargs="")
    task(name="half-minute", task="shop.tasks.poll", interval=micro, enabled=False)
    task(name="too fast", task="shop.tasks.poll", interval=sub_second)
    task(name="reminder", task="shop.tasks.remind", clocked=later, one_off=True, args="[7]")
    task(name="reminder done", task="shop.tasks.remind", clocked=past, one_off=True, enabled=False)
    task(name="at sunrise", task="shop.tasks.lights", solar=sunrise)
    task(name="celery.backend_cleanup", task="celery.backend_cleanup", crontab=berlin)
    task(name="expired", task="shop.tasks.sale", interval=minutes, expires=now - dt.timedelta(days=1))
    task(name="ends", task="shop.tasks.sale", interval=minutes, expires=now + dt.timedelta(days=1))
    task(name="bad args", task="shop.tasks.sync", interval=minutes, args='{"not": "a list"}')


def test_a_dry_run_reports_everything_and_writes_nothing(tables):
    fill(tables, timezone.now())
    report, error = run("--dry-run")
    assert error == "1 periodic task(s) could not be imported: see the lines marked 'error'"
    assert report.startswith("Dry run: nothing is written.")
    assert outcomes(report) == {
        "sync": "created", "morning report": "created", "twice a day": "created", "half-minute": "created",
        "too fast": "skipped", "reminder": "created", "reminder done": "skipped", "at sunrise": "skipped",
        "celery.backend_cleanup": "skipped", "expired": "created", "ends": "created", "bad args": "error"}
    assert "12 periodic task(s): 7 created, 0 updated, 0 unchanged, 4 skipped, 1 error (dry run" in report
    assert not PeriodicTask.objects.exists() and not Schedule.objects.exists()


def test_the_import_carries_each_field_and_says_what_it_cannot(tables):
    now = timezone.now()
    fill(tables, now)
    report, error = run()
    assert error is not None and outcomes(report)["bad args"] == "error"
    assert "bad args: args must be a JSON list" in report and "fix it in django-celery-beat's table" in report

    sync = PeriodicTask.objects.get(name="sync")
    assert (sync.task, sync.interval.every, sync.interval.period, sync.args, sync.kwargs, sync.queue,
            sync.priority, sync.expire_seconds, sync.description, sync.total_run_count, sync.enabled,
            sync.one_off, sync.source) == ("shop.tasks.sync", 10, "minutes", ["a", 1], {"full": False}, "reports",
                                           6, 60, "every ten", 5, True, False, PeriodicTask.ADMIN)
    assert sync.start_time == dt.datetime(2025, 1, 1, tzinfo=UTC)
    assert abs(sync.last_run_at - (now - dt.timedelta(minutes=3))) < dt.timedelta(seconds=1)
    assert "priority 3 is 6 here" in report

    morning = PeriodicTask.objects.get(name="morning report")
    assert (morning.crontab.minute, morning.crontab.hour, morning.crontab.day_of_week,
            morning.crontab.timezone, morning.queue) == ("0", "8", "1-5", "Europe/Berlin", "")
    for said in ("exchange 'reports': not carried", "routing_key 'reports': not carried",
                 'headers {"tenant": "a"}: not carried'):
        assert said in report
    twice = PeriodicTask.objects.get(name="twice a day")
    assert (twice.crontab.hour, twice.crontab.day_of_month, twice.args, twice.kwargs) == ("8,20", "1,15", [], {})
    half = PeriodicTask.objects.get(name="half-minute")
    assert (half.interval.every, half.interval.period, half.enabled) == (30, "seconds", False)
    reminder = PeriodicTask.objects.get(name="reminder")
    assert reminder.clocked.clocked_time > now and reminder.one_off and reminder.args == [7]
    expired, ends = PeriodicTask.objects.get(name="expired"), PeriodicTask.objects.get(name="ends")
    assert expired.expires == now - dt.timedelta(days=1) and expired.next_run() is None
    assert "expired at" in report and "beat sends it no run" in report
    assert ends.expires == now + dt.timedelta(days=1) and ends.next_run() is not None  # carried: runs until then
    for said in ("too fast: every 1500000 microseconds: jobs runs intervals in whole seconds",
                 "at sunrise: a solar schedule (sunrise at latitude 52.52",
                 "celery.backend_cleanup: django-celery-beat's own task for django-celery-results' cleanup",
                 "reminder done: a one-off task that has run"):
        assert said in report
    assert not PeriodicTask.objects.filter(name__in=["too fast", "at sunrise", "celery.backend_cleanup",
                                                     "reminder done", "bad args"]).exists()
    # Beat can send every row it loads, and says nothing about any of them.
    assert sorted(e.name for e in ScheduleDatabase().load()) == ["ends", "expired", "morning report", "reminder",
                                                               "sync", "twice a day"]
    assert IntervalSchedule.objects.count() == 2  # "expired" and "ends" share sync's every 10 minutes


def test_importing_again_doubles_nothing_and_carries_what_changed(tables):
    now = timezone.now()
    fill(tables, now)
    run()
    counts = (PeriodicTask.objects.count(), Schedule.objects.count())
    tables["task"].objects.filter(name="bad args").update(args='["fixed"]')
    tables["task"].objects.filter(name="sync").update(enabled=False, last_run_at=now - dt.timedelta(minutes=1),
                                                      total_run_count=6)
    report, error = run()
    assert error is None
    found = outcomes(report)
    assert found["bad args"] == "created" and found["sync"] == "updated" and found["morning report"] == "unchanged"
    assert "sync: shop.tasks.sync, every 10 minutes (disabled); changed: enabled, last run" in report
    assert (PeriodicTask.objects.count(), Schedule.objects.count()) == (counts[0] + 1, counts[1])
    sync = PeriodicTask.objects.get(name="sync")
    assert not sync.enabled and sync.total_run_count == 6

    # jobs' beat ran it since: an older last run in django-celery-beat does not roll it back.
    PeriodicTask.objects.filter(name="sync").update(last_run_at=now, total_run_count=9)
    report, _ = run()
    assert outcomes(report)["sync"] == "unchanged"
    assert PeriodicTask.objects.get(name="sync").total_run_count == 9
    assert "0 created, 0 updated, 8 unchanged, 4 skipped, 0 error" in report


def test_a_periodic_task_from_the_settings_is_left_alone(tables):
    tables["task"].objects.create(name="sync", task="shop.tasks.sync",
                                  interval=tables["interval"].objects.create(every=5, period="seconds"))
    sync_settings({"sync": {"task": "core.tasks.sync", "schedule": 3600}})
    report, error = run()
    assert error is None and outcomes(report) == {"sync": "skipped"}
    assert "comes from JOBS['BEAT_SCHEDULE']: it is left alone" in report
    assert PeriodicTask.objects.get(name="sync").task == "core.tasks.sync"


@pytest.mark.parametrize("tables", [True], indirect=True)
def test_an_old_django_celery_beat_without_the_later_columns(tables):
    every = tables["interval"].objects.create(every=1, period="hours")
    nightly = tables["crontab"].objects.create(minute="30", hour="2")
    tables["task"].objects.create(name="hourly", task="shop.tasks.sync", interval=every, args='[1]')
    tables["task"].objects.create(name="nightly", task="shop.tasks.backup", crontab=nightly)
    wraps = tables["crontab"].objects.create(minute="0", hour="22-2")  # Celery reads it as 22-23,0-2
    tables["task"].objects.create(name="night shift", task="shop.tasks.watch", crontab=wraps)
    report, error = run()
    assert error is not None
    assert outcomes(report) == {"hourly": "created", "nightly": "created", "night shift": "error"}
    assert "night shift: hour: '22-2' is not valid here (a range must go up: 22-2)" in report
    assert "its crontab has no time zone" in report
    nightly_row = PeriodicTask.objects.get(name="nightly")
    assert nightly_row.crontab.timezone == "UTC" and nightly_row.priority is None
    assert PeriodicTask.objects.get(name="hourly").args == [1]


def test_no_tables_or_no_such_database_is_an_error_saying_what_to_do():
    report, error = run()
    assert error is not None and "there is no django_celery_beat_periodictask table in the database 'default'" in error
    assert "point --database at the database django-celery-beat used" in error
    report, error = run("--database", "old")
    assert error == "there is no database 'old' in DATABASES; there are: default"
