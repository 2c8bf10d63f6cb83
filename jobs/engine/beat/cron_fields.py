"""The five fields of a crontab, as it is written: what each may hold, checked before croniter reads
it (croniter reads more than Celery and cron agree on, some of it as something else).

The fields take the syntax Celery's crontab() and cron share, and nothing else (validate_field):
numbers, names (sun-sat, jan-dec), *, ranges a-b (a one-value range a-a is that value, as in
Celery, not the whole cycle croniter would read), lists a,b and steps */n or a-b/n; a day of week
range may end on Sunday (fri-sun, 5-0: cron reads x-0 as x-7), and day of month takes L, the last
day of the month. No whitespace inside a field, no other croniter extension (R, #, ?, L elsewhere):
croniter would read them, some as something else (a tab splits a field in two). When both day of
month and day of week are restricted, a day must match both, as in Celery and django-celery-beat
("on Monday the 18th"), not either, as in Vixie cron.
"""

from __future__ import annotations

import re

from ..errors import ScheduleError

FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
LIMITS = {"minute": "0-59", "hour": "0-23", "day_of_month": "1-31", "month_of_year": "1-12 or jan-dec",
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
    allowed = (f"allowed: numbers {LIMITS[field]}, *, ranges a-b, lists a,b and steps */n or a-b/n{extra}, "
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


def weekdays(dow: str) -> set[int] | None:
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
