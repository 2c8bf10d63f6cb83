"""A crontab runs at its wall-clock times in its own time zone, named as the tz database names it
(zone_name, zone). What its five fields may hold is cron_fields.py; what it says in words, words.py.

Across daylight saving time changes it follows Vixie cron, which tells two kinds of crontab apart:
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
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ScheduleError
from .cron_fields import FIELDS, LIMITS, validate_field
from .words import describe_crontab

if TYPE_CHECKING:
    from croniter import croniter

UTC = dt.timezone.utc


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
        from croniter import (  # lazily, as in _cron
            CroniterBadCronError,
            CroniterBadDateError,
        )

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
                                    f"{LIMITS[field]}, *, ranges a-b, lists a,b and steps */n", field) from exc
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
