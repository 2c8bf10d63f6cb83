"""Schedule arithmetic: crontabs at their wall-clock time across DST, intervals, clocked runs."""

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from jobs.engine.beat.periodic import Clocked, Crontab, Interval, ScheduleError, due_runs

UTC = dt.timezone.utc


def runs(schedule, start, n):
    out, t = [], start
    for _ in range(n):
        t = schedule.next_after(t)
        out.append(t)
    return out


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


def test_berlin_spring_forward_the_skipped_time_runs_at_the_end_of_the_gap_once():
    daily = Crontab(minute="30", hour="2", timezone="Europe/Berlin")
    assert runs(daily, utc(2026, 3, 27, 12), 3) == [
        utc(2026, 3, 28, 1, 30),  # 02:30 CET
        utc(2026, 3, 29, 1, 0),   # 02:30 does not exist: 03:00 CEST
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
    ]


def test_berlin_fall_back_the_repeated_time_runs_once():
    daily = Crontab(minute="30", hour="2", timezone="Europe/Berlin")
    assert runs(daily, utc(2026, 10, 24, 12), 2) == [
        utc(2026, 10, 25, 0, 30),  # the first 02:30 (CEST); not again at the second (CET)
        utc(2026, 10, 26, 1, 30),  # 02:30 CET
    ]


def test_a_recurring_crontab_follows_real_time_across_both_changes():
    hourly = Crontab(minute="0", timezone="Europe/Berlin")
    assert runs(hourly, utc(2026, 10, 24, 22, 30), 4) == [
        utc(2026, 10, 24, 23),                          # 01:00 CEST
        utc(2026, 10, 25, 0), utc(2026, 10, 25, 1),     # 02:00 CEST, 02:00 CET: the hour happens twice
        utc(2026, 10, 25, 2),                           # 03:00 CET
    ]
    assert runs(hourly, utc(2026, 3, 28, 23, 30), 3) == [
        utc(2026, 3, 29, 0), utc(2026, 3, 29, 1),       # 01:00 CET, 03:00 CEST: 02:00 does not exist
        utc(2026, 3, 29, 2),
    ]


def test_a_fixed_time_in_a_gap_and_a_recurring_slot_after_it_do_not_double():
    every_30_from_2_to_3 = Crontab(minute="0,30", hour="2-3", timezone="Europe/Berlin")
    assert runs(every_30_from_2_to_3, utc(2026, 3, 28, 12), 3) == [
        utc(2026, 3, 29, 1, 0),    # 02:00 and 02:30 do not exist: one run at 03:00 CEST ...
        utc(2026, 3, 29, 1, 30),   # ... which is also the 03:00 slot; then 03:30
        utc(2026, 3, 30, 0, 0),
    ]


def test_new_york_both_changes():
    daily = Crontab(minute="30", hour="2", timezone="America/New_York")
    assert runs(daily, utc(2026, 3, 7, 12), 2) == [utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 6, 30)]
    ambiguous = Crontab(minute="30", hour="1", timezone="America/New_York")
    assert runs(ambiguous, utc(2026, 10, 31, 12), 2) == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]


def test_a_daily_crontab_runs_once_every_day_of_a_year_in_every_zone():
    for name in ("Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"):
        daily = Crontab(minute="30", hour="2", timezone=name)
        days = [t.astimezone(ZoneInfo(name)).date() for t in runs(daily, utc(2026, 1, 1), 365)]
        assert len(set(days)) == 365, name


def test_a_quarter_hourly_crontab_runs_every_slot_of_both_passes_of_the_repeated_hour():
    quarterly = Crontab(minute="*/15", timezone="Europe/Berlin")
    sent = runs(quarterly, utc(2026, 10, 24, 23, 50), 10)
    assert sent == [utc(2026, 10, 25, 0, m) for m in (0, 15, 30, 45)] + \
        [utc(2026, 10, 25, 1, m) for m in (0, 15, 30, 45)] + [utc(2026, 10, 25, 2, 0), utc(2026, 10, 25, 2, 15)]


@pytest.mark.parametrize("zone, spring, autumn", [
    ("Europe/Berlin", utc(2026, 3, 29), utc(2026, 10, 25)),
    ("America/New_York", utc(2026, 3, 8, 5), utc(2026, 11, 1, 4)),
    ("Australia/Lord_Howe", utc(2026, 4, 4, 14), utc(2026, 10, 3, 15)),  # a 30-minute shift
])
@pytest.mark.parametrize("fields", [dict(minute="*/15"), dict(minute="0"), dict(minute="30", hour="2"),
                                    dict(minute="0,20,40", hour="1-3"), dict(minute="*/7", hour="2")])
def test_next_and_last_agree_with_every_run_listed_one_by_one(zone, spring, autumn, fields):
    """Near both changes, next_after and last_at_or_before must name the earliest later and the
    latest earlier of the runs that the wall-clock times stand for, listed one minute at a time."""
    from jobs.engine.beat.crontab import _instants

    cron = Crontab(timezone=zone, **fields)
    tz = ZoneInfo(zone)
    from croniter import croniter

    for change in (spring, autumn):
        start, end = change - dt.timedelta(hours=5), change + dt.timedelta(hours=5)
        listed, wall = set(), (start - dt.timedelta(hours=28)).astimezone(tz).replace(tzinfo=None)
        while wall < (end + dt.timedelta(hours=28)).astimezone(tz).replace(tzinfo=None):
            if croniter.match(cron.expression, wall):
                listed.update(t.astimezone(UTC) for t in _instants(wall, tz, cron.recurring))
            wall += dt.timedelta(minutes=1)
        listed_utc = sorted(listed)
        t = start
        while t < end:
            assert cron.next_after(t) == min(x for x in listed_utc if x > t), t
            assert cron.last_at_or_before(t, start) == max(x for x in listed_utc if x <= t), t
            t += dt.timedelta(minutes=11)


def test_next_after_is_strictly_after_even_inside_a_repeated_hour():
    every_15 = Crontab(minute="*/15", timezone="Europe/Berlin")
    inside_second_hour = utc(2026, 10, 25, 1, 20)  # 02:20 CET, the second 02:xx
    assert every_15.next_after(inside_second_hour) == utc(2026, 10, 25, 1, 30)


@pytest.mark.parametrize("fields, field", [
    ({"minute": "61"}, "minute"), ({"hour": "24"}, "hour"), ({"hour": "x"}, "hour"),
    ({"day_of_week": "8"}, "day_of_week"), ({"day_of_month": "0"}, "day_of_month"),
    ({"month_of_year": "13"}, "month_of_year"), ({"minute": "1 2"}, "minute"), ({"timezone": "Mars/Base"}, "timezone"),
])
def test_a_bad_field_is_an_error_that_names_it(fields, field):
    with pytest.raises(ScheduleError) as info:
        Crontab(**fields)
    assert info.value.field == field and field.split("_")[0] in str(info.value)


def test_intervals_and_clocked_runs():
    every_ten = Interval(600)
    assert every_ten.next_after(utc(2026, 1, 1, 12)) == utc(2026, 1, 1, 12, 10)
    once = Clocked(utc(2026, 5, 1, 9))
    assert once.next_after(utc(2026, 4, 30)) == utc(2026, 5, 1, 9)
    assert once.next_after(utc(2026, 5, 1, 9)) is None
    with pytest.raises(ScheduleError):
        Interval(0)


def test_due_runs_sends_late_runs_each_and_collapses_missed_ones():
    hourly = Crontab(minute="0")
    minute = dt.timedelta(minutes=1)
    due = due_runs(hourly, utc(2026, 1, 1, 0), utc(2026, 1, 1, 5, 30), minute)
    assert due.late == () and due.missed == utc(2026, 1, 1, 5)
    due = due_runs(hourly, utc(2026, 1, 1, 0), utc(2026, 1, 1, 5, 0, 30), minute)
    assert due.late == (utc(2026, 1, 1, 5),) and due.missed == utc(2026, 1, 1, 4)
    assert due_runs(hourly, utc(2026, 1, 1, 0), utc(2026, 1, 1, 0, 30), minute).late == ()

    every_second = Interval(1)
    since = utc(2026, 1, 1)
    due = due_runs(every_second, since, since + dt.timedelta(seconds=12.5), minute)
    assert due.missed is None and due.late == tuple(since + dt.timedelta(seconds=s) for s in range(1, 13))
    due = due_runs(Interval(7), since, since + dt.timedelta(hours=1), minute)
    assert due.missed == since + dt.timedelta(seconds=7 * ((3600 - 60) // 7))  # on the grid of `since`
    assert due.late[0] == due.missed + dt.timedelta(seconds=7) and len(due.late) == 9


def test_a_hand_over_cannot_make_two_catch_up_runs():
    """Beat A sends what is due at now_A and dies before recording it; beat B, with the same stored
    last run, sends what is due a few seconds later. Late runs have fixed due times (their keys
    dedupe them); the catch-up run for missed ones must be the same run for both, or absent."""
    grace = dt.timedelta(minutes=1)
    since = utc(2026, 1, 1)
    for schedule in (Interval(1), Interval(90), Interval(3600), Crontab(minute="*"), Crontab(minute="0"),
                     Crontab(minute="0", hour="*/2"), Crontab(minute="1", hour="3")):
        for start_ms, offset_ms in itertools.product(range(0, 180_000, 13_250), range(0, 12_000, 500)):
            now_a = utc(2026, 1, 1, 3) + dt.timedelta(milliseconds=start_ms)
            now_b = now_a + dt.timedelta(milliseconds=offset_ms)
            sent = set()
            for now in (now_a, now_b):
                due = due_runs(schedule, since, now, grace)
                sent |= set(due.late) if due.late else {due.missed} - {None}
            missed = [run for run in sent if run <= now_a - grace]
            assert len(missed) <= 1, (schedule, offset_ms, missed)


def test_descriptions():
    assert Crontab(minute="0", hour="8").describe() == "At 08:00, every day"
    assert Crontab(minute="30", hour="6", day_of_week="1-5", timezone="Europe/Berlin").describe() == \
        "At 06:30, on weekdays (Europe/Berlin)"
    assert Crontab(minute="*/15").describe() == "Every 15 minutes, every day"
    assert Crontab(minute="0", hour="9", day_of_month="1").describe() == "At 09:00, on day 1 of every month"
    assert Crontab(minute="5", hour="1,13").describe() == "cron 5 1,13 * * * (UTC)"
    assert Interval(3600).describe() == "every hour" and Interval(7200).describe() == "every 2 hours"
    assert Interval(90).describe() == "every 90 seconds"


# -- what Celery's, django-celery-beat's and cronie's own test cases found ---------------------------

def runs_between(schedule, start, end):
    out, t = [], start
    while True:
        t = schedule.next_after(t)
        if t >= end:
            return out
        out.append(t)


@pytest.mark.parametrize("fields, per_day", [
    ({"minute": "0", "hour": "9-9"}, 1),       # croniter reads 9-9 as every hour
    ({"minute": "0-0", "hour": "9"}, 1),        # ... and 0-0 as every minute
    ({"minute": "0", "hour": "9", "day_of_week": "2-2"}, 1 / 7),
    ({"minute": "0", "hour": "9", "month_of_year": "3-3"}, 0),  # not in November
    ({"minute": "0-0/5", "hour": "9"}, 1),
])
def test_a_one_value_range_is_that_value_not_the_whole_cycle(fields, per_day):
    crontab = Crontab(**fields)
    days = 28
    found = runs_between(crontab, utc(2026, 11, 1), utc(2026, 11, 1) + dt.timedelta(days=days))
    assert len(found) == round(per_day * days)


@pytest.mark.parametrize("field, value", [
    ("minute", "R"),            # croniter: a random minute, drawn anew each time we ask (~260 runs a day)
    ("minute", "0\t0"),         # croniter: a tab splits the field; six fields read with seconds
    ("hour", "8\n9"),
    ("day_of_month", "15-L"),   # croniter extensions we do not document (L alone is the last day)
    ("day_of_week", "L"),
    ("day_of_week", "thu-mon"),  # a range that goes down, other than to Sunday (fri-sun)
    ("day_of_week", "mon#2"),
    ("day_of_month", "?"),
    ("minute", "5/10"),         # croniter: from 5 on; cron: an error
    ("hour", "22-2"),           # a range that goes down
    ("minute", "*/0"),
])
def test_only_the_documented_cron_syntax_is_accepted(field, value):
    with pytest.raises(ScheduleError, match=f"^{field}: "):
        Crontab(**{field: value})


def test_day_of_month_with_day_of_week_means_both_as_in_celery():
    monday_18th = Crontab(minute="0", hour="9", day_of_week="mon", day_of_month="18")
    found = runs_between(monday_18th, utc(2026, 1, 1), utc(2028, 1, 1))
    assert found and all(t.day == 18 and t.weekday() == 0 for t in found)
    assert len(found) == 3  # May 2026, Jan 2027, Oct 2027: not every Monday and every 18th
    assert monday_18th.describe() == "At 09:00, on Monday the 18th"
    assert "match both day of month and day of week" in Crontab("0", "9", "1,5", "1-7").describe()


def test_an_interval_on_an_aware_wall_clock_time_counts_real_time_across_dst():
    berlin = ZoneInfo("Europe/Berlin")
    before = dt.datetime(2026, 3, 28, 12, 0, tzinfo=berlin)  # a day before the spring change
    assert Interval(86400).next_after(before) - before == dt.timedelta(hours=24)
    assert Interval(86400).next_after(before).astimezone(berlin).hour == 13  # 24 real hours later
    assert Interval(3600).last_at_or_before(before + dt.timedelta(days=1), before) == \
        (before + dt.timedelta(days=1)).astimezone(UTC)


def test_an_hourly_crontab_where_the_clocks_move_30_minutes():
    """Lord Howe Island moves its clocks by 30 minutes: the hour across each change is 5,400 s."""
    hourly = Crontab(minute="0", timezone="Australia/Lord_Howe")
    for start in (utc(2026, 4, 4, 12), utc(2026, 10, 3, 12)):  # around the April and October changes
        found = runs(hourly, start, 30)
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(found)]
        assert sorted(set(gaps)) == [3600, 5400] and gaps.count(5400) == 1
    for zone in ("Europe/Berlin", "America/New_York"):
        found = runs(Crontab(minute="0", timezone=zone), utc(2026, 3, 7, 12), 24 * 30)
        assert {(b - a).total_seconds() for a, b in itertools.pairwise(found)} == {3600}
