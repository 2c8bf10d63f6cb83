"""Schedules in words, for the admin's lists and the console: "At 08:00, on weekdays", "every 2
hours". The common shapes of a crontab get a sentence; any other is shown as its cron line, which
says exactly when it runs, rather than a sentence that would say it loosely."""

from __future__ import annotations

from typing import Protocol

from .cron_fields import weekdays


class CronLine(Protocol):
    """A crontab's validated fields (crontab.Crontab), as words read them."""

    @property
    def minute(self) -> str: ...
    @property
    def hour(self) -> str: ...
    @property
    def day_of_week(self) -> str: ...
    @property
    def day_of_month(self) -> str: ...
    @property
    def month_of_year(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def expression(self) -> str: ...


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


def describe_crontab(c: CronLine) -> str:
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
    days = weekdays(dow)
    if dom == "*":
        return _weekdays_in_words(days) if days is not None else None
    month_day = {"L": "the last day"}.get(dom, f"day {int(dom)}" if dom.isdigit() else "")
    if not month_day:
        return None
    if dow == "*":
        return f"on {month_day} of every month"
    if days is not None and len(days) == 1:  # both must match: "on Monday the 18th"
        [day] = days
        return f"on {_DAYS[str(day)]} the {_ordinal(int(dom))}" if dom.isdigit() else \
            f"on {month_day} of the month if it is a {_DAYS[str(day)]}"
    return None


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
