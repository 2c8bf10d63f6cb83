"""Periodic schedules compared case by case with Celery, django-celery-beat and cron (issue 23): day of
week ranges ending on Sunday, L for the last day of the month, time zones given as tzinfo, a 30-minute
DST change, and what beat does with a missed run (periodic.to_send, which the admin reads too)."""

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from jobs.engine.beat.periodic import LATE_GRACE, Clocked, Crontab, Interval, ScheduleError, due_runs, to_send
from jobs.schedules import crontab

UTC = dt.timezone.utc


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


def runs_between(schedule, start, end):
    out, t = [], start
    while (t := schedule.next_after(t)) < end:
        out.append(t)
    return out


def weekdays(schedule) -> set[str]:
    return {t.strftime("%a") for t in runs_between(schedule, utc(2026, 1, 1), utc(2026, 1, 29))}


@pytest.mark.parametrize("field, days, words", [
    ("mon-sun", {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}, "At 09:00, every day"),
    ("fri-sun", {"Fri", "Sat", "Sun"}, "At 09:00, on Friday to Sunday"),
    ("5-0", {"Fri", "Sat", "Sun"}, "At 09:00, on Friday to Sunday"),   # cron reads x-0 as x-7
    ("sat-sun/2", {"Sat"}, "At 09:00, on Saturday"),
    ("sat-0", {"Sat", "Sun"}, "At 09:00, on weekends"),
    ("1-7", {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}, "At 09:00, every day"),
    ("sun,mon,tue", {"Sun", "Mon", "Tue"}, "At 09:00, on Sunday to Tuesday"),
    ("mon,wed,fri", {"Mon", "Wed", "Fri"}, "At 09:00, on Monday, Wednesday, Friday"),
])
def test_a_day_of_week_range_may_end_on_sunday_and_is_said_in_words(field, days, words):
    schedule = Crontab(minute="0", hour="9", day_of_week=field)
    assert weekdays(schedule) == days
    assert schedule.describe() == words


def test_other_ranges_that_go_down_are_still_refused():
    with pytest.raises(ScheduleError, match="a range may end on Sunday: fri-sun, 5-0"):
        Crontab(day_of_week="thu-mon")


def test_l_is_the_last_day_of_the_month():
    last = Crontab(minute="0", hour="9", day_of_month="L")
    found = runs_between(last, utc(2027, 12, 1), utc(2028, 5, 1))
    assert [t.date() for t in found] == [dt.date(2027, 12, 31), dt.date(2028, 1, 31), dt.date(2028, 2, 29),
                                         dt.date(2028, 3, 31), dt.date(2028, 4, 30)]
    assert last.describe() == "At 09:00, on the last day of every month"
    assert Crontab(minute="0", hour="9", day_of_month="l").day_of_month == "L"
    both = runs_between(Crontab(minute="0", hour="0", day_of_month="1,L"), utc(2028, 1, 31, 12), utc(2028, 3, 2))
    assert [t.day for t in both] == [1, 29, 1]


def test_day_of_month_with_day_of_week_means_both_and_says_so():
    """Kept from Celery (cron would run on either): stated in words, the admin's help text and docs."""
    friday_13th = Crontab(minute="0", hour="0", day_of_month="13", day_of_week="fri")
    assert {(t.day, t.strftime("%a")) for t in runs_between(friday_13th, utc(2026, 1, 1), utc(2028, 1, 1))} == \
        {(13, "Fri")}
    assert friday_13th.describe() == "At 00:00, on Friday the 13th"
    assert Crontab(minute="0", hour="0", day_of_month="L", day_of_week="fri").describe() == \
        "At 00:00, on the last day of the month if it is a Friday"
    assert Crontab(minute="0", hour="0", day_of_month="1-7", day_of_week="1,5").describe().endswith(
        "; on days that match both day of month and day of week)")


@pytest.mark.parametrize("given, name", [(ZoneInfo("Europe/Paris"), "Europe/Paris"), (UTC, "UTC"),
                                         (dt.UTC, "UTC"), ("America/New_York", "America/New_York")])
def test_crontab_takes_a_tzinfo_as_well_as_a_name(given, name):
    spec = crontab(minute=0, hour=8, timezone=given)
    assert spec.timezone == name and spec.resolve("UTC").timezone == name
    assert Crontab(minute="0", hour="8", timezone=given).timezone == name


@pytest.mark.parametrize("given, says", [
    (dt.timezone(dt.timedelta(hours=2)), "has no IANA name .a fixed offset"),
    (5, "not int 5"), (b"Europe/Paris", "not bytes"), ("America", "America is a region"),
])
def test_anything_else_is_a_schedule_error_naming_the_time_zone(given, says):
    with pytest.raises(ScheduleError, match=says) as error:
        crontab(minute=0, timezone=given)
    assert error.value.field == "timezone" and str(error.value).startswith("timezone")


def gaps_across_change(schedule, start):
    found = runs_between(schedule, start, start + dt.timedelta(hours=12))
    return [(b - a).total_seconds() for a, b in itertools.pairwise(found) if (b - a).total_seconds() != 3600]


def test_an_hourly_crontab_where_the_clocks_move_30_minutes():
    """Lord Howe Island moves its clocks by 30 minutes, at 02:00: in April back to 01:30 (+11:00 to
    +10:30), in October on to 02:30. An hourly task at minutes 0-29 has one gap of 5,400 s across each
    change; at minutes 30-59, one of 1,800 s (its 01:30 happens twice in April; in October, 02:30
    comes half an hour after 01:30). Every other gap is 3,600 s. What docs/periodic.md says."""
    april, october = utc(2026, 4, 4, 10), utc(2026, 10, 3, 10)
    for minute in ("0", "15", "29"):
        hourly = Crontab(minute=minute, timezone="Australia/Lord_Howe")
        assert gaps_across_change(hourly, april) == [5400] and gaps_across_change(hourly, october) == [5400]
    for minute in ("30", "45"):
        hourly = Crontab(minute=minute, timezone="Australia/Lord_Howe")
        assert gaps_across_change(hourly, april) == [1800] and gaps_across_change(hourly, october) == [1800]
    lord_howe = ZoneInfo("Australia/Lord_Howe")

    def runs_on(day):
        start = dt.datetime.combine(day, dt.time(0), lord_howe)
        return runs_between(Crontab(minute="0", timezone="Australia/Lord_Howe"), start - dt.timedelta(seconds=1),
                            dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), lord_howe))

    assert len(runs_on(dt.date(2026, 4, 5))) == 24 and len(runs_on(dt.date(2026, 10, 4))) == 23


def test_a_missed_clocked_run_is_sent_late_even_with_catch_up_none():
    """It has no next time to wait for: skipping it would drop it unseen (it disabled itself)."""
    at = utc(2026, 5, 1, 9)
    due = due_runs(Clocked(at), utc(1970, 1, 1), at + dt.timedelta(hours=3), LATE_GRACE)
    assert due.missed == at and due.late == ()
    assert to_send(due, "none", one_off=True, clocked=True) == ([at], None)
    hourly = Crontab(minute="0")
    due = due_runs(hourly, utc(2026, 5, 1), utc(2026, 5, 1, 3, 10), LATE_GRACE)
    assert to_send(due, "none", one_off=True, clocked=False) == ([], utc(2026, 5, 1, 3))  # waits for 04:00
    assert to_send(due, "once", one_off=False, clocked=False) == ([utc(2026, 5, 1, 3)], None)
    due = due_runs(Interval(1), utc(2026, 5, 1), utc(2026, 5, 1, 0, 0, 5), LATE_GRACE)
    assert len(to_send(due, "none", one_off=False, clocked=False)[0]) == 5
    assert len(to_send(due, "none", one_off=True, clocked=False)[0]) == 1
