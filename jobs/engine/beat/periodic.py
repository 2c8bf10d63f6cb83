"""When a periodic task is due: pure functions of times, testable without Redis, Django or a clock.

Three kinds, as in django-celery-beat:

    Crontab(minute, hour, day_of_week, day_of_month, month_of_year, timezone)
    Interval(seconds)
    Clocked(at)              # one run, at a given instant

Each has next_after(t): the first run strictly after the aware instant t, as an aware UTC datetime
(None once a clocked run has passed).

The crontab, with its DST rules and its field syntax, is crontab.py; words.py puts any of the three
in words.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..errors import ScheduleError

# The Django side (the models, through api.periodic) reads the three kinds here, the crontab's too.
from .cron_fields import FIELDS as FIELDS
from .crontab import Crontab as Crontab
from .crontab import zone_name as zone_name
from .words import describe_seconds

UTC = dt.timezone.utc


@dataclass(frozen=True)
class Interval:
    seconds: float

    def __post_init__(self) -> None:
        if self.seconds <= 0:
            raise ScheduleError("an interval must be a positive number of seconds", "every")
        if self.seconds > MAX_INTERVAL:
            raise ScheduleError(f"an interval may be at most {MAX_INTERVAL // 86400} days; for rarer runs use a "
                                "crontab or a clocked schedule", "every")

    def next_after(self, after: dt.datetime) -> dt.datetime:
        # In UTC: adding to a wall-clock time would make an hour across a DST change 0 or 2 hours.
        return after.astimezone(UTC) + dt.timedelta(seconds=self.seconds)

    def last_at_or_before(self, at: dt.datetime, since: dt.datetime) -> dt.datetime | None:
        """Runs are `since` + k intervals, so the same runs whoever computes them."""
        step = dt.timedelta(seconds=self.seconds)
        since = since.astimezone(UTC)
        n = (at.astimezone(UTC) - since) // step
        return since + n * step if n >= 1 else None

    def describe(self) -> str:
        return f"every {describe_seconds(self.seconds)}"


@dataclass(frozen=True)
class Clocked:
    at: dt.datetime

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ScheduleError("a clocked time must be timezone-aware", "clocked_time")

    def next_after(self, after: dt.datetime) -> dt.datetime | None:
        return self.at.astimezone(UTC) if self.at > after else None

    def last_at_or_before(self, at: dt.datetime, since: dt.datetime) -> dt.datetime | None:
        return self.at.astimezone(UTC) if since < self.at <= at else None

    def describe(self) -> str:
        return f"once, at {self.at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


#: Beyond this an interval is a typo, and datetime arithmetic would overflow.
MAX_INTERVAL = 3650 * 86400


@dataclass(frozen=True)
class Due:
    """What is due at a tick. `late`: the runs due in the last `grace` (a tick that came late, a
    leader hand-over), each to be sent, oldest first. `missed`: the latest run due before that (beat
    was down), for the catch-up policy to decide; runs missed before it are not listed."""

    late: tuple[dt.datetime, ...] = ()
    missed: dt.datetime | None = None


#: A bound on late runs per tick (an interval of 1 s and a minute of grace make 60).
MAX_LATE = 1000

#: A run late by less than this is sent; one due earlier was missed while no beat ran (see to_send).
LATE_GRACE = dt.timedelta(seconds=60)


def due_runs(schedule: Crontab | Interval | Clocked, since: dt.datetime, now: dt.datetime,
             grace: dt.timedelta) -> Due:
    """The runs due in (since, now]. The answer depends on `now` only through which runs exist
    by then, so two beats asking at nearby times name the same runs (their idempotency keys)."""
    first = schedule.next_after(since)
    if first is None or first > now:
        return Due()
    missed = schedule.last_at_or_before(now - grace, since) if first <= now - grace else None
    late: list[dt.datetime] = []
    t = missed or since
    while len(late) < MAX_LATE:
        following = schedule.next_after(t)
        if following is None or following > now:
            break
        late.append(following)
        t = following
    return Due(tuple(late), missed)


def to_send(due: Due, catch_up: str, one_off: bool, clocked: bool) -> tuple[list[dt.datetime], dt.datetime | None]:
    """What beat does with what is due: the runs it sends, oldest first, and the missed run it skips
    (recorded as the last run, not sent), if any. One rule, read by beat and by the admin's "next
    run", so the two cannot disagree.

    Late runs are each sent. A missed run is sent once with catch_up "once"; with "none" it is
    skipped and the task waits for its next time, except a clocked schedule's, which has no next time:
    its one run is sent late rather than dropped unseen. A one-off, or a clocked schedule, sends one."""
    runs = list(due.late)
    skipped = None
    if due.missed is not None and not runs:
        if catch_up == "once" or clocked:
            runs = [due.missed]
        else:
            skipped = due.missed
    if one_off or clocked:
        runs = runs[:1]
    return runs, skipped
