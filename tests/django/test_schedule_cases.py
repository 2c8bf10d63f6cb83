"""Beat and the admin on the cases where Celery, django-celery-beat and cron differ (issue 23): the
admin's "next run" is what beat does, one-offs, a clocked run missed while beat was down, an end time
(`expires`), and the crontab forms and lists for Sunday ranges, L and both day fields."""

from __future__ import annotations

import datetime as dt

import pytest

from jobs.engine.wire.message import decode
from jobs.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask
from tests.django.test_beat import T0, every, new_beat, periodic, queued, run_id, seconds

pytestmark = pytest.mark.django_db(transaction=True)

UTC = dt.timezone.utc
HOUR = dt.timedelta(hours=1)


def sent_between(r, row: PeriodicTask, times: list[dt.datetime]) -> list[dt.datetime]:
    """Tick beat at each time; the due times of the runs it sent for `row`."""
    beat = new_beat()
    before = set(queued(r))
    for t in times:
        beat.tick(t)
    beat.resign()  # the next one leads at once
    prefix = f"beat-{row.pk}-"
    return sorted(dt.datetime.fromtimestamp(int(i[len(prefix):]) / 1000, UTC)
                  for i in set(queued(r)) - before if i.startswith(prefix))


def admin_next(row: PeriodicTask, now: dt.datetime) -> dt.datetime | None:
    return PeriodicTask.objects.get(pk=row.pk).next_run(now)


@pytest.mark.parametrize("kind", ["interval", "crontab", "clocked", "clocked moved later"])
def test_a_one_off_enabled_again_after_its_run_the_admin_says_what_beat_does(r, kind):
    """The rule (docs/periodic.md): enabled again, a one-off runs once more at its schedule's next
    time; a clocked one has none, unless given a new time. The admin's next run says so, exactly."""
    schedule = {"interval": lambda: every(600), "crontab": lambda: CrontabSchedule.objects.create(minute="0"),
                "clocked": lambda: ClockedSchedule.objects.create(clocked_time=T0 + HOUR),
                "clocked moved later": lambda: ClockedSchedule.objects.create(clocked_time=T0 + HOUR)}[kind]()
    row = periodic("once", schedule, one_off=True)
    first = admin_next(row, T0)
    assert first is not None and sent_between(r, row, [first, first + seconds(1)]) == [first]
    row.refresh_from_db()
    assert not row.enabled and admin_next(row, first + seconds(2)) is None
    if kind == "clocked moved later":
        ClockedSchedule.objects.filter(pk=schedule.pk).update(clocked_time=T0 + 5 * HOUR)
    PeriodicTask.objects.filter(pk=row.pk).update(enabled=True)
    now = first + seconds(2)
    said = admin_next(row, now)
    expected = {"interval": first + dt.timedelta(seconds=600), "crontab": first + HOUR, "clocked": None,
                "clocked moved later": T0 + 5 * HOUR}[kind]
    assert said == expected
    ticks = [now + dt.timedelta(minutes=m) for m in range(0, 6 * 60, 5)] + [T0 + 5 * HOUR]
    sent = sent_between(r, row, sorted(ticks))
    assert sent == ([] if said is None else [said])  # once, when the admin said: not before, not twice


def test_after_downtime_with_catch_up_none_the_admin_says_the_next_time_not_due_now(r):
    """Beat skips runs missed by more than a minute (catch up "none"): the admin said "due now" for
    them, while beat sent nothing until the next time."""
    row = periodic("hourly", CrontabSchedule.objects.create(minute="0"), catch_up="none")
    back = T0 + 3 * HOUR + dt.timedelta(minutes=10)  # down through 13:00, 14:00, 15:00
    assert admin_next(row, back) == T0 + 4 * HOUR
    assert sent_between(r, row, [back, T0 + 4 * HOUR - seconds(1)]) == []
    once = periodic("hourly once", CrontabSchedule.objects.create(minute="0"), catch_up="once")
    assert admin_next(once, back) == back  # due now: beat sends one run for them at once


def test_a_clocked_one_off_missed_while_beat_was_down_with_catch_up_none_runs_once_late(r, caplog):
    at = T0 + HOUR
    row = periodic("reminder", ClockedSchedule.objects.create(clocked_time=at), one_off=True, catch_up="none")
    back = at + 3 * HOUR
    assert admin_next(row, back) == back  # due now: the admin says what beat does
    assert sent_between(r, row, [back, back + HOUR]) == [at]
    row.refresh_from_db()
    assert not row.enabled and row.total_run_count == 1  # ran, then disabled itself; never dropped unseen
    assert "missed its one run" in caplog.text and "sending it now, late" in caplog.text


def test_no_run_after_expires_and_each_run_expires_then_at_the_latest(r):
    row = periodic("sale", every(10), expires=T0 + seconds(25), expire_seconds=3600)
    assert admin_next(row, T0 + seconds(5)) == T0 + seconds(10)
    beat = new_beat()
    for t in (10, 20):
        beat.tick(T0 + seconds(t))
    assert admin_next(row, T0 + seconds(21)) is None  # its next time, 30 s, is past its end
    for t in (30, 40):
        beat.tick(T0 + seconds(t))
    assert queued(r) == [run_id(row, T0 + seconds(10)), run_id(row, T0 + seconds(20))]
    for wire in r.zrange("{jobs}:queue:default", 0, -1):
        assert decode(wire, "default", ("json",)).expires == (T0 + seconds(25)).timestamp()  # not now + 3600 s
    row.refresh_from_db()
    row.expires = T0 + seconds(45)  # moved later (a save, as in the admin): it runs again, from where it was
    row.save()
    beat.tick(T0 + seconds(41))
    assert queued(r)[2:] == [run_id(row, T0 + seconds(30)), run_id(row, T0 + seconds(40))]
    beat.resign()
    short = periodic("short", every(10), expires=T0 + HOUR, expire_seconds=5)
    new_beat().tick(T0 + seconds(10))
    [wire] = [w for w in r.zrange("{jobs}:queue:default", 0, -1) if run_id(short, T0 + seconds(10)).encode() in w]
    assert decode(wire, "default", ("json",)).expires_in == 5  # the sooner of the two


def test_expires_as_django_celery_beat_code_sets_it(admin_client, r):
    row = PeriodicTask.objects.create(name="ends", task="tests.testapp.tasks.add", interval=every(60),
                                      expires=dt.datetime.now(UTC) - HOUR)
    assert row.next_run() is None
    page = admin_client.get("/admin/jobs/periodictask/").content.decode()
    assert "— (expired)" in page
    assert 'name="expires' in admin_client.get(f"/admin/jobs/periodictask/{row.pk}/change/").content.decode()


def crontab_form(**fields):
    return {"minute": "0", "hour": "9", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*",
            "timezone": "UTC", **fields}


@pytest.mark.parametrize("fields, words", [
    ({"day_of_week": "mon-sun"}, "At 09:00, every day"),
    ({"day_of_week": "fri-sun"}, "At 09:00, on Friday to Sunday"),
    ({"day_of_week": "sat-sun/2"}, "At 09:00, on Saturday"),
    ({"day_of_month": "L"}, "At 09:00, on the last day of every month"),
    ({"day_of_month": "13", "day_of_week": "fri"}, "At 09:00, on Friday the 13th"),
])
def test_the_crontab_form_takes_sunday_ranges_and_l_and_the_lists_say_them_in_words(admin_client, r, fields,
                                                                                     words):
    response = admin_client.post("/admin/jobs/crontabschedule/add/", crontab_form(**fields))
    assert response.status_code == 302, response.context["adminform"].form.errors
    schedule = CrontabSchedule.objects.get()
    periodic("weekly", schedule, created=dt.datetime.now(UTC))
    for page in ("/admin/jobs/crontabschedule/", "/admin/jobs/periodictask/"):
        assert words in admin_client.get(page).content.decode()


def test_the_crontab_form_says_how_the_two_day_fields_combine(admin_client, r):
    page = admin_client.get("/admin/jobs/crontabschedule/add/").content.decode()
    assert "a day must match both (as in Celery; cron runs on either)" in page
    assert "L for the last day of the month" in page and "a range may end on Sunday" in page


def test_an_interval_one_off_missed_with_catch_up_none_still_waits_for_its_next_time(r):
    row = periodic("once", IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS), one_off=True,
                   catch_up="none")
    back = T0 + 3 * HOUR + dt.timedelta(minutes=10)
    assert admin_next(row, back) == T0 + 4 * HOUR
    assert sent_between(r, row, [back, T0 + 4 * HOUR]) == [T0 + 4 * HOUR]
