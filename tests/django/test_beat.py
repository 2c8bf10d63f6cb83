"""Beat with its database store, in this process, on a clock the test drives (Beat.tick(now)), against
the session's private Redis; and the admin of periodic tasks through Django's test client.

The real `runbeat` processes (two at once, kill -9 of the leader) are in tests/acceptance/test_beat.py.
"""

from __future__ import annotations

import datetime as dt
import logging
import random

import pytest
from django.db import connection

from jobs.engine.beat.scheduler import Beat
from jobs.engine.setup import app as engine_app
from jobs.models import BeatVersion, ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask
from jobs.schedules import crontab
from jobs.stores.schedules_db import ScheduleDatabase, sync_settings

pytestmark = pytest.mark.django_db(transaction=True)

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)


def seconds(n: float) -> dt.timedelta:
    return dt.timedelta(seconds=n)


def new_beat(lease: float = 10.0) -> Beat:
    return Beat(engine_app.current(), ScheduleDatabase(), lease_seconds=lease)


def queued(r, queue: str = "default") -> list[str]:
    """Ids of the messages waiting in a queue, in order."""
    return [wire.split(b"|")[2].decode() for wire in r.zrange("{jobs}:queue:" + queue, 0, -1)]


def every(n: int, period: str = IntervalSchedule.SECONDS) -> IntervalSchedule:
    return IntervalSchedule.objects.create(every=n, period=period)


def periodic(name: str, schedule, created: dt.datetime = T0, **fields) -> PeriodicTask:
    """A periodic task as if it had been made at `created` (the clock the test drives)."""
    fields.setdefault("task", "tests.testapp.tasks.add")
    fields.setdefault("args", [1, 2])
    row = PeriodicTask.objects.create(name=name, schedule=schedule, **fields)
    PeriodicTask.objects.filter(pk=row.pk).update(date_created=created)
    row.refresh_from_db()
    return row


def run_id(row: PeriodicTask, due: dt.datetime) -> str:
    return f"beat-{row.pk}-{int(due.timestamp() * 1000)}"


# -- schedules run at their times ------------------------------------------------------------------

def test_an_interval_runs_every_period_from_when_it_was_made(r):
    row = periodic("adder", every(10))
    beat = new_beat()
    for t in (0, 5, 9.9, 10, 10.5, 19, 20, 31):
        beat.tick(T0 + seconds(t))
    assert queued(r) == [run_id(row, T0 + seconds(10)), run_id(row, T0 + seconds(20)),
                         run_id(row, T0 + seconds(30))]
    row.refresh_from_db()
    assert row.total_run_count == 3 and row.last_run_at == T0 + seconds(30)


def test_the_message_is_the_periodic_tasks_call(r):
    periodic("welcome", every(1), task="shop.send_welcome", args=[7], kwargs={"lang": "de"}, priority=6)
    new_beat().tick(T0 + seconds(1))
    assert queued(r, "default") == []
    (wire,) = r.zrange("{jobs}:queue:emails", 0, -1, withscores=True)  # the task's own queue
    member, score = wire
    assert score == 9 - 6 and b'"a":[7]' in member and b'"k":{"lang":"de"}' in member


def test_a_clocked_run_happens_once_and_disables_itself(r):
    at = T0 + seconds(30)
    row = periodic("reminder", ClockedSchedule.objects.create(clocked_time=at))
    beat = new_beat()
    beat.tick(T0 + seconds(29))
    assert queued(r) == []
    beat.tick(T0 + seconds(31))
    beat.tick(T0 + seconds(3600))
    assert queued(r) == [run_id(row, at)]
    row.refresh_from_db()
    assert not row.enabled and row.total_run_count == 1


def test_a_one_off_interval_runs_once(r):
    row = periodic("once", every(5), one_off=True)
    beat = new_beat()
    for t in (5, 10, 15):
        beat.tick(T0 + seconds(t))
    assert queued(r) == [run_id(row, T0 + seconds(5))]
    row.refresh_from_db()
    assert not row.enabled


def test_no_run_before_the_start_time(r):
    row = periodic("later", every(10), start_time=T0 + seconds(25))
    beat = new_beat()
    for t in (10, 20, 30, 35):
        beat.tick(T0 + seconds(t))
    assert queued(r) == [run_id(row, T0 + seconds(25)), run_id(row, T0 + seconds(35))]  # from the start time


def test_a_crontab_runs_at_its_wall_clock_time_in_its_time_zone(r):
    morning = CrontabSchedule.objects.create(minute="0", hour="8", timezone="Europe/Berlin")
    row = periodic("report", morning, created=dt.datetime(2026, 11, 20, 12, tzinfo=UTC))
    beat = new_beat()
    beat.tick(dt.datetime(2026, 11, 21, 6, 59, 59, tzinfo=UTC))
    assert queued(r) == []
    beat.tick(dt.datetime(2026, 11, 21, 7, 0, 0, 300_000, tzinfo=UTC))  # 08:00 in Berlin (CET)
    assert queued(r) == [run_id(row, dt.datetime(2026, 11, 21, 7, tzinfo=UTC))]


# -- live edits ------------------------------------------------------------------------------------

def test_an_edit_takes_effect_on_the_next_tick(r):
    row = periodic("adder", every(10))
    beat = new_beat()
    beat.tick(T0 + seconds(10))
    assert len(queued(r)) == 1
    row.schedule = every(1)  # a save, as the admin does
    row.save()
    beat.tick(T0 + seconds(11))
    assert len(queued(r)) == 2
    row.enabled = False
    row.save()
    beat.tick(T0 + seconds(12))
    assert len(queued(r)) == 2
    periodic("another", every(1), created=T0 + seconds(12))
    beat.tick(T0 + seconds(13))
    assert len(queued(r)) == 3


def test_recording_runs_does_not_make_beat_reload(r):
    periodic("adder", every(1))
    beat = new_beat()
    beat.tick(T0 + seconds(1))
    version = BeatVersion.current()
    beat.tick(T0 + seconds(2))
    assert BeatVersion.current() == version


# -- downtime --------------------------------------------------------------------------------------

def test_after_downtime_catch_up_once_sends_one_run(r, caplog):
    hourly = CrontabSchedule.objects.create(minute="0", timezone="UTC")
    once = periodic("once", hourly, catch_up="once")
    none = periodic("none", hourly, catch_up="none")
    back = T0 + dt.timedelta(hours=5, minutes=10)  # down since T0: 13:00 .. 17:00 missed
    with caplog.at_level(logging.WARNING, "jobs.beat"):
        new_beat().tick(back)
    assert queued(r) == [run_id(once, T0 + dt.timedelta(hours=5))]
    none.refresh_from_db()
    assert none.total_run_count == 0 and none.last_run_at == T0 + dt.timedelta(hours=5)
    assert "catch_up='none': not sent" in caplog.text and "sending one now" in caplog.text


def test_runs_a_minute_late_or_less_are_each_sent(r):
    row = periodic("fast", every(1))
    new_beat().tick(T0 + seconds(8.5))  # a slow start, a hand-over: late, not missed
    assert queued(r) == [run_id(row, T0 + seconds(n)) for n in range(1, 9)]


# -- several beats ---------------------------------------------------------------------------------

def test_one_leader_at_a_time(r):
    periodic("fast", every(1))
    a, b = new_beat(), new_beat()
    a.tick(T0 + seconds(1))
    b.tick(T0 + seconds(1.1))
    assert a.leading and not b.leading and len(queued(r)) == 1
    a.resign()
    b.tick(T0 + seconds(2))
    assert b.leading and len(queued(r)) == 2


def test_two_beats_fighting_over_a_minute_send_each_run_once(r):
    """Two beats tick at jittered times over a simulated minute. The lease is made to run out at
    random moments (as a paused leader's would), so leadership changes hands mid-run; and now and
    then a beat sends and 'dies' before recording (its unrecorded runs are dropped). Each due run
    must still be in the queue exactly once, and counted once."""
    row = periodic("fast", every(1))
    beats = [new_beat(), new_beat()]
    rng = random.Random(4)
    t = 0.0
    while t < 60:
        t += rng.uniform(0.2, 1.4)
        for beat in rng.sample(beats, 2):
            beat.tick(T0 + seconds(t))
            if rng.random() < 0.3:
                r.delete("{jobs}:beat:leader")  # the lease ran out
            if rng.random() < 0.1:
                beat._unrecorded.clear()  # sent, then died before it recorded
                beat.entries, beat._version = [], None
    for beat in beats:
        beat.tick(T0 + seconds(t))
    ids = queued(r)
    assert sorted(ids) == sorted(run_id(row, T0 + seconds(n)) for n in range(1, int(t) + 1))
    row.refresh_from_db()
    assert row.last_run_at == T0 + seconds(int(t))
    assert row.total_run_count == len(ids)


def test_a_follower_asks_again_as_the_leaders_lease_runs_out(r):
    a, b = new_beat(), new_beat()
    a.tick(T0)
    r.pexpire("{jobs}:beat:leader", 300)  # the leader stopped renewing 9.7 s ago
    wait = b.tick(T0)
    assert not b.leading and 0 < wait <= 0.3
    r.delete("{jobs}:beat:leader")
    b.tick(T0 + seconds(wait))
    assert b.leading


def test_a_beat_that_leads_again_reads_the_schedules_afresh(r):
    row = periodic("fast", every(1))
    a, b = new_beat(), new_beat()
    a.tick(T0 + seconds(1))
    r.delete("{jobs}:beat:leader")  # a paused: its lease ran out
    b.tick(T0 + seconds(1.5))
    a.tick(T0 + seconds(1.6))
    assert b.leading and not a.leading
    PeriodicTask.objects.filter(pk=row.pk).update(enabled=False)  # no signal: as another process would
    b.resign()
    a.tick(T0 + seconds(5))  # leads again: must not send from what it loaded back then
    assert a.leading and queued(r) == [run_id(row, T0 + seconds(1))]


def test_a_run_mark_per_periodic_task_not_a_key_per_run(r):
    row = periodic("fast", every(1))
    beat = new_beat()
    for t in range(1, 30):
        beat.tick(T0 + seconds(t))
    assert len(queued(r)) == 29
    assert r.hgetall("{jobs}:beat:sent") == {str(row.pk).encode(): str(int((T0 + seconds(29)).timestamp() * 1000))
                                              .encode()}
    assert sorted(r.keys("{jobs}:beat:*")) == [b"{jobs}:beat:leader", b"{jobs}:beat:sent"]


def test_a_periodic_task_whose_schedule_fails_is_skipped_and_the_others_run(r, caplog):
    good = periodic("good", every(1))
    bad = periodic("bad", every(1))
    beat = new_beat()
    beat.tick(T0 + seconds(1))

    class Broken(type(beat.entries[0].schedule)):
        def next_after(self, after):
            raise OverflowError("date value out of range")

    for entry in beat.entries:
        if entry.id == bad.pk:
            entry.schedule = Broken(1)
    with caplog.at_level(logging.ERROR, "jobs.beat"):
        for t in (2, 3, 4):
            assert beat.tick(T0 + seconds(t)) > 0
    assert caplog.text.count("periodic task 'bad'") == 1 and "OverflowError" in caplog.text
    assert queued(r).count(run_id(good, T0 + seconds(4))) == 1
    assert run_id(bad, T0 + seconds(2)) not in queued(r)


def test_beat_sends_with_the_task_serializer(r):
    from django.test import override_settings

    periodic("pickled", every(1))
    with override_settings(JOBS={"TASK_SERIALIZER": "pickle", "ACCEPT_CONTENT": ["pickle", "json"]}):
        new_beat().tick(T0 + seconds(1))
    (wire,) = r.zrange("{jobs}:queue:default", 0, -1)
    assert b'"ct":"pickle"' in wire


# -- the database fails ----------------------------------------------------------------------------

def test_a_database_outage_is_logged_and_beat_goes_on(r, caplog):
    row = periodic("fast", every(1))
    beat = new_beat()
    beat.tick(T0 + seconds(1))
    with connection.cursor() as cursor:  # a real database error: the table is gone for a while
        cursor.execute("ALTER TABLE jobs_periodictask RENAME TO jobs_periodictask_away")
    try:
        with caplog.at_level(logging.WARNING, "jobs.beat"):
            for t in (2, 3, 4):
                assert beat.tick(T0 + seconds(t)) > 0
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE jobs_periodictask_away RENAME TO jobs_periodictask")
    assert caplog.text.count("the database failed") == 1
    assert len(queued(r)) == 4  # sent from the schedules it had
    beat.tick(T0 + seconds(5))
    assert "the database answers again" in caplog.text
    row.refresh_from_db()
    assert row.total_run_count == 5 and row.last_run_at == T0 + seconds(5)  # the held records written


# -- JOBS["BEAT_SCHEDULE"] -------------------------------------------------------------------------

def test_settings_are_synced_updated_and_disabled_when_removed(r):
    schedule = {
        "report": {"task": "reports.send", "schedule": crontab(hour=8, minute=0), "options": {"queue": "reports"}},
        "cleanup": {"task": "core.cleanup", "schedule": dt.timedelta(hours=1)},
    }
    sync_settings(schedule)
    report = PeriodicTask.objects.get(name="report")
    assert report.source == "settings" and report.queue == "reports"
    assert str(report.schedule) == "At 08:00, every day"  # TIME_ZONE is UTC in the test settings
    assert str(PeriodicTask.objects.get(name="cleanup").schedule) == "every hour"
    PeriodicTask.objects.filter(name="report").update(total_run_count=7)

    schedule["report"]["schedule"] = crontab(hour=9, minute=30, timezone="Europe/Berlin")
    del schedule["cleanup"]
    sync_settings(schedule)
    report.refresh_from_db()
    assert str(report.schedule) == "At 09:30, every day (Europe/Berlin)" and report.total_run_count == 7
    cleanup = PeriodicTask.objects.get(name="cleanup")
    assert not cleanup.enabled  # disabled, not deleted


def test_settings_sync_keeps_enabled_as_the_admin_or_a_one_off_run_left_it(r):
    schedule = {"reminder": {"task": "core.remind", "schedule": 60, "one_off": True},
                "report": {"task": "reports.send", "schedule": 3600}}
    sync_settings(schedule)
    reminder = PeriodicTask.objects.get(name="reminder")
    beat = new_beat()
    PeriodicTask.objects.filter(pk=reminder.pk).update(date_created=T0)
    beat.tick(T0 + seconds(60))  # the one-off runs and disables itself
    PeriodicTask.objects.filter(name="report").update(enabled=False)  # an operator disabled it
    sync_settings(schedule)  # the next deploy
    assert not PeriodicTask.objects.get(name="reminder").enabled
    assert not PeriodicTask.objects.get(name="report").enabled
    del schedule["report"]
    sync_settings(schedule)
    assert PeriodicTask.objects.get(name="report").source == "removed"
    schedule["report"] = {"task": "reports.send", "schedule": 3600}
    sync_settings(schedule)  # back in the settings: enabled again
    report = PeriodicTask.objects.get(name="report")
    assert report.enabled and report.source == "settings"


def test_a_periodic_task_made_in_the_admin_is_not_overwritten_by_settings(r, caplog):
    periodic("report", every(5), task="mine.task")
    with caplog.at_level(logging.WARNING, "jobs.beat"):
        sync_settings({"report": {"task": "theirs.task", "schedule": 60}})
    assert PeriodicTask.objects.get(name="report").task == "mine.task"
    assert "the admin's is kept" in caplog.text


@pytest.mark.parametrize("entry, message", [
    ({"task": "x"}, "at least 'task' and 'schedule'"),
    ({"task": "x", "schedule": 0}, "schedule must be crontab"),
    ({"task": "x", "schedule": 1.5}, "whole number of seconds"),
    ({"task": "x", "schedule": 60, "optons": {}}, "unknown key(s) ['optons']"),
    ({"task": "x", "schedule": dt.datetime(2027, 1, 1)}, "aware datetime"),
])
def test_a_bad_settings_entry_says_what_is_wrong(r, entry, message):
    with pytest.raises(Exception) as info:
        sync_settings({"bad": entry})
    assert message in str(info.value) and "['bad']" in str(info.value)
    assert not PeriodicTask.objects.exists()


# -- the admin -------------------------------------------------------------------------------------

def test_the_admin_list_shows_schedules_in_words_and_the_next_run(admin_client, r):
    periodic("morning report", CrontabSchedule.objects.create(minute="0", hour="8", timezone="Europe/Berlin"),
             created=dt.datetime.now(UTC))
    page = admin_client.get("/admin/jobs/periodictask/").content.decode()
    assert "morning report" in page and "At 08:00, every day (Europe/Berlin)" in page
    assert " CET" in page or " CEST" in page  # the next run, in the schedule's own zone


def test_a_bad_crontab_field_is_a_form_error_naming_it(admin_client, r):
    response = admin_client.post("/admin/jobs/crontabschedule/add/", {
        "minute": "0", "hour": "24", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*",
        "timezone": "UTC"})
    assert response.status_code == 200 and not CrontabSchedule.objects.exists()
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["hour"] and "0-23" in errors["hour"][0]


def test_a_crontab_that_never_runs_and_a_huge_interval_are_form_errors(admin_client, r):
    response = admin_client.post("/admin/jobs/crontabschedule/add/", {
        "minute": "0", "hour": "0", "day_of_week": "*", "day_of_month": "30", "month_of_year": "2",
        "timezone": "UTC"})
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["day_of_month"] and "never happens" in errors["day_of_month"][0]
    response = admin_client.post("/admin/jobs/intervalschedule/add/", {"every": "3000000", "period": "days"})
    assert "at most 3650 days" in response.context["adminform"].form.errors["every"][0]
    assert not CrontabSchedule.objects.exists() and not IntervalSchedule.objects.exists()


def test_a_form_opened_before_a_one_off_ran_does_not_enable_it_again(admin_client, r):
    row = periodic("once", every(10), one_off=True, description="old")
    form = {"name": "once", "enabled": "on", "task": row.task, "schedule": row.schedule.pk, "args": "[1, 2]",
            "kwargs": "{}", "catch_up": "once", "description": "old"}
    page = admin_client.get(f"/admin/jobs/periodictask/{row.pk}/change/")
    form["seen_changed"] = page.context["adminform"].form["seen_changed"].value()
    new_beat().tick(T0 + seconds(10))  # meanwhile beat runs it; it disables itself
    response = admin_client.post(f"/admin/jobs/periodictask/{row.pk}/change/", {**form, "description": "new"})
    assert "changed after you opened it" in response.content.decode()
    row.refresh_from_db()
    assert row.description == "old" and not row.enabled and row.total_run_count == 1
    page = admin_client.get(f"/admin/jobs/periodictask/{row.pk}/change/")  # reloaded: saved as edited
    form.update(seen_changed=page.context["adminform"].form["seen_changed"].value(), enabled="")
    admin_client.post(f"/admin/jobs/periodictask/{row.pk}/change/", {**form, "description": "new"})
    row.refresh_from_db()
    assert row.description == "new" and not row.enabled


def test_the_admins_next_run_is_when_beat_runs_it(r):
    start = dt.datetime.now(UTC).replace(microsecond=0) + dt.timedelta(hours=2)
    row = periodic("from start", every(1, IntervalSchedule.HOURS), created=dt.datetime.now(UTC), start_time=start)
    assert row.next_run() == start  # an interval's first run is at its start time
    past = dt.datetime.now(UTC) - dt.timedelta(days=1)
    clocked = periodic("late reminder", ClockedSchedule.objects.create(clocked_time=past),
                       created=dt.datetime.now(UTC))
    assert clocked.next_run() is not None  # made after its time: beat still sends it, at once


def test_args_and_kwargs_must_be_a_json_list_and_object(admin_client, r):
    schedule = every(5)
    form = {"name": "x", "enabled": "on", "task": "tests.testapp.tasks.add", "schedule": schedule.pk,
            "args": '{"x": 1}', "kwargs": "[1]", "catch_up": "once"}
    response = admin_client.post("/admin/jobs/periodictask/add/", form)
    errors = response.context["adminform"].form.errors
    assert "must be a JSON list" in errors["args"][0] and "must be a JSON object" in errors["kwargs"][0]
    response = admin_client.post("/admin/jobs/periodictask/add/", {**form, "args": "[1, ", "kwargs": "{}"})
    assert "args" in response.context["adminform"].form.errors
    assert not PeriodicTask.objects.exists()


def test_the_task_field_suggests_known_names_and_accepts_unknown_ones_with_a_warning(admin_client, r):
    page = admin_client.get("/admin/jobs/periodictask/add/").content.decode()
    assert '<option value="tests.testapp.tasks.add">' in page and 'list="task-choices"' in page
    response = admin_client.post("/admin/jobs/periodictask/add/", {
        "name": "elsewhere", "enabled": "on", "task": "billing.tasks.only_on_workers", "schedule": every(5).pk,
        "args": "[]", "kwargs": "{}", "catch_up": "once"}, follow=True)
    assert PeriodicTask.objects.get(name="elsewhere").task == "billing.tasks.only_on_workers"
    assert "does not know a task named" in response.content.decode()


def test_admin_actions_enable_disable_and_run_now(admin_client, r):
    row = periodic("adder", every(3600), created=dt.datetime.now(UTC))
    version = BeatVersion.current()
    admin_client.post("/admin/jobs/periodictask/", {"action": "disable", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert not row.enabled and BeatVersion.current() > version
    admin_client.post("/admin/jobs/periodictask/", {"action": "enable", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.enabled
    response = admin_client.post("/admin/jobs/periodictask/", {"action": "run_now", "_selected_action": [row.pk]},
                                 follow=True)
    assert "Sent now: adder" in response.content.decode()
    assert len(queued(r)) == 1
    row.refresh_from_db()
    assert row.total_run_count == 0  # its schedule (and history) unchanged


# -- start times, one-offs and the admin, as Celery's and django-celery-beat's cases ask ------------

def test_an_intervals_first_run_is_at_its_start_time_even_within_one_period(r):
    row = periodic("soon", every(60), start_time=T0 + seconds(10))  # less than one period away
    beat = new_beat()
    for t in (5, 10, 30, 70):
        beat.tick(T0 + seconds(t))
    assert queued(r) == [run_id(row, T0 + seconds(10)), run_id(row, T0 + seconds(70))]


def test_a_clocked_run_before_its_start_time_runs_at_the_start_time(r):
    clocked = ClockedSchedule.objects.create(clocked_time=T0 + seconds(5))
    row = periodic("at", clocked, start_time=T0 + seconds(20))
    beat = new_beat()
    for t in (5, 10, 19):
        beat.tick(T0 + seconds(t))
    assert queued(r) == []  # "no runs before this time"
    beat.tick(T0 + seconds(20))
    assert queued(r) == [run_id(row, T0 + seconds(20))]
    row.refresh_from_db()
    assert not row.enabled


def test_a_one_off_missed_with_catch_up_none_waits_for_its_next_time(r):
    hourly = CrontabSchedule.objects.create(minute="0", timezone="UTC")
    row = periodic("once", hourly, one_off=True, catch_up="none")
    beat = new_beat()
    beat.tick(T0 + dt.timedelta(hours=3, minutes=10))  # down through 13:00, 14:00, 15:00
    assert queued(r) == []
    row.refresh_from_db()
    assert row.enabled and row.total_run_count == 0  # not used up by a run it never had
    beat.tick(T0 + dt.timedelta(hours=4))
    assert queued(r) == [run_id(row, T0 + dt.timedelta(hours=4))]
    row.refresh_from_db()
    assert not row.enabled and row.total_run_count == 1


def test_a_one_off_enabled_again_after_its_run_runs_once_more_and_the_admin_says_when(r):
    row = periodic("once", every(5), one_off=True)
    beat = new_beat()
    beat.tick(T0 + seconds(5))
    row.refresh_from_db()
    assert not row.enabled and row.next_run(T0 + seconds(6)) is None
    row.enabled = True
    row.save()
    row.refresh_from_db()
    assert row.next_run(T0 + seconds(6)) == T0 + seconds(10)  # what the admin shows...
    for t in (6, 10, 15, 20):
        beat.tick(T0 + seconds(t))
    assert queued(r) == [run_id(row, T0 + seconds(5)), run_id(row, T0 + seconds(10))]  # ...is what beat does
