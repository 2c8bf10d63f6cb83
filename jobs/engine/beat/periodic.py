"""When a periodic task is due: pure functions of times, testable without Redis, Django or a clock.

Three kinds, as in django-celery-beat:

    Crontab(minute, hour, day_of_week, day_of_month, month_of_year, timezone)
    Interval(seconds)
    Clocked(at)              # one run, at a given instant

Each has next_after(t): the first run strictly after the aware instant t, as an aware UTC datetime
(None once a clocked run has passed).

A crontab runs at its wall-clock time in its own time zone. Across daylight saving time changes it
follows Vixie cron, which tells two kinds of crontab apart:
- a fixed-time one (minute and hour both numbers or lists: "30 2 * * *") runs once per wall-clock
  time: a time the clocks skip (02:30 on the night Europe/Berlin springs forward) runs at the end of
  the gap, 03:00, once; a time that happens twice (02:30 on the night the clocks fall back) runs at
  its first occurrence only. So a daily 02:30 task runs exactly once every day of the year;
- a recurring one (minute or hour starts with "*": "*/15 * * * *", "0 * * * *") follows real time:
  its slots in a skipped hour do not exist, and its slots in a repeated hour run in both. So where
  the clocks move by a whole hour, an hourly task runs every 3,600 s whatever they do. Where they
  move by 30 minutes at 02:00 (Australia/Lord_Howe), one gap across each change is not: 5,400 s for
  an hourly task at minutes 0-29 (in October its 02:xx is skipped; in April its 02:xx comes 90
  minutes after 01:xx), 1,800 s at minutes 30-59 (in April its 01:xx happens twice; in October
  02:xx comes 30 minutes after 01:xx) (tests/engine/test_schedule_cases.py).

The fields take the syntax Celery's crontab() and cron share, and nothing else (validate_field):
numbers, names (sun-sat, jan-dec), *, ranges a-b (a one-value range a-a is that value, as in
Celery, not the whole cycle croniter would read), lists a,b and steps */n or a-b/n; a day of week
range may end on Sunday (fri-sun, 5-0: cron reads x-0 as x-7), and day of month takes L, the last
day of the month. No whitespace inside a field, no other croniter extension (R, #, ?, L elsewhere):
croniter would read them, some as something else (a tab splits a field in two). When both day of
month and day of week are restricted, a day must match both, as in Celery and django-celery-beat
("on Monday the 18th"), not either, as in Vixie cron.

Longer than most modules on purpose: the three kinds share the DST rules and the field syntax above,
and are read together.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ScheduleError

if TYPE_CHECKING:
    from croniter import croniter

UTC = dt.timezone.utc
FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
_LIMITS = {"minute": "0-59", "hour": "0-23", "day_of_month": "1-31", "month_of_year": "1-12 or jan-dec",
           "day_of_week": "0-6 (0 = Sunday; 7 too) or sun-sat"}
_RANGES = {"minute": (0, 59), "hour": (0, 23), "day_of_month": (1, 31), "month_of_year": (1, 12),
           "day_of_week": (0, 7)}
_NAMES = {
    "month_of_year": {n: i + 1 for i, n in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))},
    "day_of_week": {n: i for i, n in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))},
}
_ITEM = re.compile(r"(?:(\*)|([0-9a-z]+)(?:-([0-9a-z]+))?)(?:/([0-9]+))?")  # fullmatch: no `$`, which passes "\n"


def validate_field(field: str, value: str) -> str:
    """The field as croniter must read it; ScheduleError for anything outside the documented syntax."""
    value = value.strip()
    if not value or any(ch.isspace() for ch in value):
        raise _field_error(field, value, "must be one cron field without spaces")
    return ",".join(_item(field, value, item) for item in value.lower().split(","))


def _field_error(field: str, value: str, what: str) -> ScheduleError:
    extra = {"day_of_month": ", L (the last day of the month)",
             "day_of_week": " (a range may end on Sunday: fri-sun, 5-0)"}.get(field, "")
    allowed = (f"allowed: numbers {_LIMITS[field]}, *, ranges a-b, lists a,b and steps */n or a-b/n{extra}, "
               "with no spaces")
    return ScheduleError(f"{field}: {value!r} {what}; {allowed}", field)


def _item(field: str, value: str, item: str) -> str:
    """One item of a field's list, as croniter must read it."""
    match = _ITEM.fullmatch(item)
    if not match:
        raise _field_error(field, value, "is not valid here")
    star, first, last, step = match.groups()
    low, high = _RANGES[field]
    if step is not None and not (len(step) <= 3 and 1 <= int(step) <= high - low + 1):
        raise _field_error(field, value, f"is not valid here (the step /{step} is out of range)")
    if star:
        return item
    if field == "day_of_month" and first == "l" and last is None and step is None:
        return "L"  # the last day of the month, as croniter reads it (alone, or in a list: 1,15,L)
    a = _number(field, value, first)
    if last is None:
        if step is not None:  # croniter reads a/n as from a on, cron refuses it: say what is meant
            raise _field_error(field, value, f"is not valid here (a step needs * or a range: */{step}, "
                                             f"{first}-{high}/{step})")
        return first
    b = _number(field, value, last)
    if field == "day_of_week" and b == 0 and a > 0:  # fri-sun, 5-0: cron reads a range ending on Sunday as x-7
        b, first, last = 7, str(a), "7"
    if b < a:
        raise _field_error(field, value, f"is not valid here (a range must go up: {first}-{last})")
    if b == a:  # the one value a, as in Celery (croniter would read a-a as the whole cycle)
        return first
    return f"{first}-{last}" + (f"/{step}" if step is not None else "")


def _number(field: str, value: str, token: str) -> int:
    names = _NAMES.get(field, {})
    if token in names:
        return names[token]
    low, high = _RANGES[field]
    if not token.isdigit() or len(token) > 3 or not low <= int(token) <= high:
        raise _field_error(field, value, f"is not valid here ({token!r} is out of range)")
    return int(token)


def _cron(expression: str, start: dt.datetime | None = None) -> croniter:
    """croniter with Celery's reading of day of month with day of week: both must match."""
    # Imported at the first crontab, not with this module: croniter and dateutil are ~10 ms of imports,
    # and every process that loads the models (a worker, on its way to its first task) imports this one.
    from croniter import croniter  # lazily: see above

    return croniter(expression, start, day_or=False)


def zone_name(value: object) -> str:
    """The IANA name of a time zone given as its name or as a tzinfo that has one: ZoneInfo (its key),
    pytz (its zone), datetime.timezone.utc ("UTC"). A fixed offset has no name, and a crontab's times
    follow its zone's DST changes, so it is refused, as is anything else; ScheduleError either way."""
    if isinstance(value, str):
        return value
    if isinstance(value, dt.tzinfo):
        key = getattr(value, "key", None) or getattr(value, "zone", None)  # ZoneInfo; pytz
        if key is None and value is UTC:
            key = "UTC"
        if isinstance(key, str):
            return key
        raise ScheduleError(f"timezone: {value!r} has no IANA name (a fixed offset does not follow DST changes): "
                            "give a zone, e.g. ZoneInfo('Europe/Paris') or 'Europe/Paris'", "timezone")
    raise ScheduleError(f"timezone must be an IANA name ('Europe/Paris') or a tzinfo that has one "
                        f"(ZoneInfo('Europe/Paris')), not {type(value).__name__} {value!r}", "timezone")


def zone(name: object) -> zoneinfo.ZoneInfo:
    """The time zone named `name`, or ScheduleError saying so. Every failure of ZoneInfo is one: a name
    of a folder of the tz database ("America") fails with IsADirectoryError, a file that is not a zone
    ("zone.tab") with ValueError, a NUL with ValueError, and others may come with other tz databases;
    a row holding any of them must read as a bad schedule, never as an error of the page showing it."""
    if not isinstance(name, str) or not name:
        raise ScheduleError(f"timezone: {name!r} is not a time zone name; use an IANA name like 'Europe/Berlin'",
                            "timezone")
    try:
        return zoneinfo.ZoneInfo(name)
    except Exception as exc:  # see above: not only ZoneInfoNotFoundError
        region = sorted(key for key in zoneinfo.available_timezones() if key.startswith(f"{name}/"))
        hint = f" ({name} is a region: name a zone in it, e.g. {', '.join(map(repr, region[:3]))})" if region else ""
        raise ScheduleError(f"timezone: unknown time zone {name!r}{hint}; use an IANA name like 'Europe/Berlin'",
                            "timezone") from exc


@dataclass(frozen=True)
class Crontab:
    minute: str = "*"
    hour: str = "*"
    day_of_week: str = "*"
    day_of_month: str = "*"
    month_of_year: str = "*"
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        from croniter import CroniterBadCronError, CroniterBadDateError  # lazily, as in _cron

        object.__setattr__(self, "timezone", zone_name(self.timezone))  # ZoneInfo("Europe/Paris") -> its name
        for field in FIELDS:
            value = validate_field(field, str(getattr(self, field)))
            object.__setattr__(self, field, value)
            probe = ["*"] * 5
            probe[FIELDS.index(field)] = value
            try:
                _cron(" ".join(probe))
            except (CroniterBadCronError, ValueError, KeyError) as exc:
                raise ScheduleError(f"{field}: {value!r} is not valid here ({exc}); allowed: numbers "
                                    f"{_LIMITS[field]}, *, ranges a-b, lists a,b and steps */n", field) from exc
        zone(self.timezone)
        try:
            _cron(self.expression, dt.datetime(2000, 1, 1)).get_next(dt.datetime)
        except (CroniterBadDateError, ValueError) as exc:
            raise ScheduleError(f"day_of_month: {self.day_of_month!r} never happens in month_of_year "
                                f"{self.month_of_year!r}, so this crontab would never run", "day_of_month") from exc

    @property
    def expression(self) -> str:
        return " ".join(getattr(self, field) for field in FIELDS)

    @property
    def recurring(self) -> bool:
        """Runs by real time across DST changes (see the module docstring)."""
        return self.minute.startswith("*") or self.hour.startswith("*")

    def next_after(self, after: dt.datetime) -> dt.datetime:
        tz = zone(self.timezone)
        after = after.astimezone(UTC)  # compared with times in `tz`: in one zone Python ignores fold
        # From just before: the wall time of `after` itself may stand for a later instant too (the
        # second occurrence of a repeated time).
        times = _cron(self.expression, _wall(after, tz) - dt.timedelta(seconds=1))
        for _ in range(10_000):
            for candidate in _instants(times.get_next(dt.datetime), tz, self.recurring):
                if candidate > after:
                    if _same_offset(tz, after - _NEAR, candidate + _NEAR):
                        return candidate.astimezone(UTC)
                    return self._earliest_after(after, tz)  # a DST change is near: wall order is not time order
        raise ScheduleError(f"crontab {self.expression!r} has no run in the next 10,000 candidates")

    def _earliest_after(self, after: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
        """Near a DST change a later wall time can be an earlier instant (02:45 of the first pass
        of a repeated hour comes before 02:00 of the second): look at every wall time from some
        hours before `after` and keep the earliest instant after it."""
        times = _cron(self.expression, _wall(after - _NEAR, tz))
        best: dt.datetime | None = None
        for _ in range(100_000):
            wall = times.get_next(dt.datetime)
            if best is not None and wall > _wall(best, tz) + _NEAR:
                break
            for candidate in _instants(wall, tz, self.recurring):
                candidate = candidate.astimezone(UTC)  # aware datetimes of one zone compare by wall time
                if candidate > after and (best is None or candidate < best):
                    best = candidate
        if best is None:
            raise ScheduleError(f"crontab {self.expression!r} has no run near {after.isoformat()}")
        return best.astimezone(UTC)

    def last_at_or_before(self, at: dt.datetime, since: dt.datetime) -> dt.datetime | None:
        """The latest run at or before `at` (None if none in the previous 10,000 candidates)."""
        tz = zone(self.timezone)
        at = at.astimezone(UTC)
        if not _same_offset(tz, at - _NEAR, at + _NEAR):
            return self._latest_at_or_before(at, tz)
        times = _cron(self.expression, _wall(at, tz) + dt.timedelta(minutes=1))
        for _ in range(10_000):
            for candidate in reversed(_instants(times.get_prev(dt.datetime), tz, self.recurring)):
                if candidate <= at:
                    return candidate.astimezone(UTC)
        return None

    def _latest_at_or_before(self, at: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime | None:
        """As _earliest_after, backwards: 02:30 of the first pass of a repeated hour comes before
        02:05 of the second."""
        times = _cron(self.expression, _wall(at + _NEAR, tz))
        best: dt.datetime | None = None
        for _ in range(100_000):
            wall = times.get_prev(dt.datetime)
            if best is not None and wall < _wall(best, tz) - _NEAR:
                break
            for candidate in _instants(wall, tz, self.recurring):
                candidate = candidate.astimezone(UTC)
                if candidate <= at and (best is None or candidate > best):
                    best = candidate
        return best

    def describe(self) -> str:
        return describe_crontab(self)


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

#: Longer than any DST shift (they are an hour, at most two in history).
_NEAR = dt.timedelta(hours=3)


def _same_offset(tz: zoneinfo.ZoneInfo, a: dt.datetime, b: dt.datetime) -> bool:
    return a.astimezone(tz).utcoffset() == b.astimezone(tz).utcoffset()


def _wall(instant: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    # Through UTC: astimezone(tz) of a datetime already in tz would return it unchanged, even a
    # wall time that does not exist.
    return instant.astimezone(UTC).astimezone(tz).replace(tzinfo=None)


def _instants(wall: dt.datetime, tz: zoneinfo.ZoneInfo, recurring: bool) -> list[dt.datetime]:
    """The instants a wall-clock time of a crontab stands for, in order: usually one; both
    occurrences of a repeated time for a recurring crontab; for a skipped time, the end of the gap
    for a fixed-time crontab and none for a recurring one."""
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    if _wall(first, tz) != wall:  # skipped: the clocks jumped over it
        if recurring:
            return []
        probe = wall.replace(second=0, microsecond=0)
        for _ in range(24 * 60):  # gaps are an hour, rarely more: walk to the first minute that exists
            probe += dt.timedelta(minutes=1)
            aware = probe.replace(tzinfo=tz)
            if _wall(aware, tz) == probe:
                return [aware]
        return [first]
    if recurring and first.utcoffset() != second.utcoffset():  # repeated: the clocks went back
        return [first, second]
    return [first]


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


def describe_seconds(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}" if n != 1 else unit
    count: float = int(seconds) if float(seconds).is_integer() else seconds
    return f"{count:g} seconds" if count != 1 else "second"


_DAYS = {"0": "Sunday", "1": "Monday", "2": "Tuesday", "3": "Wednesday", "4": "Thursday", "5": "Friday",
         "6": "Saturday", "7": "Sunday", "sun": "Sunday", "mon": "Monday", "tue": "Tuesday",
         "wed": "Wednesday", "thu": "Thursday", "fri": "Friday", "sat": "Saturday"}
_WEEK = (1, 2, 3, 4, 5, 6, 0)  # in words, a week starts on Monday: "Friday to Sunday"


def describe_crontab(c: Crontab) -> str:
    """Words for the common shapes ("At 08:00, every day"), the cron line for the rest."""
    simple = all(part.isdigit() for part in (c.minute, c.hour))
    if simple:
        when = f"At {int(c.hour):02d}:{int(c.minute):02d}"
    elif c.minute.isdigit() and c.hour == "*":
        when = f"At minute {int(c.minute)} of every hour"
    elif c.minute.startswith("*/") and c.hour == "*":
        when = f"Every {c.minute[2:]} minutes"
    elif c.minute == "*" and c.hour == "*":
        when = "Every minute"
    else:
        return f"cron {c.expression} ({c.timezone})"
    days = _days_in_words(c.day_of_month, c.day_of_week) if c.month_of_year == "*" else None
    if days is None:
        both = c.day_of_month != "*" and c.day_of_week != "*"  # both must match (see the module docstring)
        note = "; on days that match both day of month and day of week" if both else ""
        return f"cron {c.expression} ({c.timezone}{note})"
    zone_note = "" if c.timezone == "UTC" else f" ({c.timezone})"
    return f"{when}, {days}{zone_note}"


def _days_in_words(dom: str, dow: str) -> str | None:
    weekdays = _weekdays(dow)
    if dom == "*":
        return _weekdays_in_words(weekdays) if weekdays is not None else None
    month_day = {"L": "the last day"}.get(dom, f"day {int(dom)}" if dom.isdigit() else "")
    if not month_day:
        return None
    if dow == "*":
        return f"on {month_day} of every month"
    if weekdays is not None and len(weekdays) == 1:  # both must match: "on Monday the 18th"
        [day] = weekdays
        return f"on {_DAYS[str(day)]} the {_ordinal(int(dom))}" if dom.isdigit() else \
            f"on {month_day} of the month if it is a {_DAYS[str(day)]}"
    return None


def _weekdays(dow: str) -> set[int] | None:
    """The days of the week (0 = Sunday) a validated day_of_week field names."""
    days: set[int] = set()
    for item in dow.split(","):
        match = _ITEM.fullmatch(item)
        if match is None:
            return None
        star, first, last, step = match.groups()
        a = 0 if star else _NAMES["day_of_week"].get(first, int(first) if first.isdigit() else -1)
        b = 7 if star else _NAMES["day_of_week"].get(last or first, int(last or first) if (last or first).isdigit()
                                                      else -1)
        if a < 0 or b < 0:
            return None
        days |= {d % 7 for d in range(a, b + 1, int(step or 1))}
    return days


def _weekdays_in_words(days: set[int]) -> str:
    if days == set(range(7)):
        return "every day"
    if days == {1, 2, 3, 4, 5}:
        return "on weekdays"
    if days == {0, 6}:
        return "on weekends"
    runs: list[list[int]] = []
    for i, day in enumerate(_WEEK):
        if day in days:
            if runs and runs[-1][-1] == _WEEK[i - 1]:
                runs[-1].append(day)
            else:
                runs.append([day])
    if len(runs) > 1 and runs[0][0] == _WEEK[0] and runs[-1][-1] == _WEEK[-1]:  # across the weekend: Sunday to Tuesday
        runs[0] = runs.pop() + runs[0]
    parts = [f"{_DAYS[str(r[0])]} to {_DAYS[str(r[-1])]}" if len(r) >= 3 else ", ".join(_DAYS[str(d)] for d in r)
             for r in runs]
    return "on " + ", ".join(parts)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
