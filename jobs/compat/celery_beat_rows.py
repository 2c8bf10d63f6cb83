"""One django-celery-beat periodic task as jobs' PeriodicTask fields (for celery_beat_import.py): its
schedule found or made, its arguments read, its priority turned around, and what cannot be carried
said. A row jobs has no equivalent for raises RowSkipped; a row that is broken for jobs, RowRefused;
each with what to do.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..models import ClockedSchedule, CrontabSchedule, IntervalSchedule, json_value
from .celery_beat_tables import KINDS, PREFIX, Source

#: A django-celery-beat interval period -> its length in microseconds.
PERIODS = {"days": 86_400_000_000, "hours": 3_600_000_000, "minutes": 60_000_000, "seconds": 1_000_000,
           "microseconds": 1}
CLEANUP_TASK = "celery.backend_cleanup"


class RowSkipped(Exception):
    """jobs has no equivalent for this row, on purpose: it is not imported (the message says why)."""


class RowRefused(Exception):
    """This row is broken for jobs: not imported (the message says what to fix)."""


def translate(row: dict[str, Any], source: Source, now: dt.datetime,
              notes: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The jobs PeriodicTask fields for one django-celery-beat row, and its last run and count."""
    if row["task"] == CLEANUP_TASK:
        raise RowSkipped("django-celery-beat's own task for django-celery-results' cleanup: jobs prunes its task "
                         "history by itself (JOBS['HISTORY_KEEP'], manage.py jobs prune)")
    enabled, one_off = bool(row.get("enabled", True)), bool(row.get("one_off", False))
    if one_off and (not enabled or (row.get("total_run_count") or 0) > 0):
        raise RowSkipped("a one-off task that has run (or was disabled before it did): nothing is left to run")
    values: dict[str, Any] = {
        "task": row["task"], "schedule": _schedule(row, source, now, notes),
        "args": _json(row.get("args"), list, "args"), "kwargs": _json(row.get("kwargs"), dict, "kwargs"),
        "queue": row.get("queue") or "", "priority": _priority(row.get("priority"), notes),
        "expire_seconds": row.get("expire_seconds"), "one_off": one_off, "start_time": _aware(row.get("start_time")),
        "expires": _expires(_aware(row.get("expires")), now, notes), "enabled": enabled,
        "description": row.get("description") or "",
    }
    _not_carried(row, notes)
    return values, {"last_run_at": _aware(row.get("last_run_at")), "total_run_count": row.get("total_run_count") or 0}


def _schedule(row: dict[str, Any], source: Source, now: dt.datetime, notes: list[str]) -> Any:
    """The jobs schedule row for the one schedule a django-celery-beat task points at (an equal one
    jobs has, else a new one)."""
    given = [kind for kind in KINDS if row.get(f"{kind}_id") is not None]
    if len(given) != 1:
        raise RowRefused("it has no schedule" if not given else
                         f"it has more than one schedule ({' and '.join(given)}), which django-celery-beat "
                         "refuses too: keep one there and import again, or make it in the admin")
    kind, ident = given[0], row[f"{given[0]}_id"]
    schedule = source.schedules[kind].get(ident)
    if schedule is None:
        raise RowRefused(f"its {kind} schedule {ident} is not in {PREFIX}{kind}schedule")
    if kind == "solar":
        raise RowSkipped(f"a solar schedule ({schedule.get('event')} at latitude {schedule.get('latitude')}, longitude "
                         f"{schedule.get('longitude')}): jobs has none; make it in the admin with a crontab at about "
                         "that time, in the place's time zone")
    if kind == "interval":
        return _reuse(IntervalSchedule, **_interval(schedule))
    if kind == "crontab":
        return _reuse(CrontabSchedule, **_crontab(schedule, notes))
    clocked_time = _aware(schedule["clocked_time"])
    if clocked_time is not None and clocked_time <= now and bool(row.get("enabled", True)):
        notes.append(f"its clocked time {clocked_time:%Y-%m-%d %H:%M} UTC has passed and it has not run: beat "
                     "sends it at once (disable it in the admin if it should not run)")
    return _reuse(ClockedSchedule, clocked_time=clocked_time)


def _interval(schedule: dict[str, Any]) -> dict[str, Any]:
    every, period = schedule.get("every"), schedule.get("period")
    if period not in PERIODS or not isinstance(every, int) or every < 1:
        raise RowRefused(f"its interval is every {every!r} {period!r}: give a whole number of seconds, minutes, hours "
                         "or days in the admin")
    if period != "microseconds":
        return {"every": every, "period": period}
    seconds, rest = divmod(every, PERIODS["seconds"])
    if rest or not seconds:
        raise RowSkipped(f"every {every} microseconds: jobs runs intervals in whole seconds; make it every "
                         f"{max(1, round(every / 1e6))} second(s) in the admin if that will do")
    for unit in ("days", "hours", "minutes"):
        if seconds % (PERIODS[unit] // PERIODS["seconds"]) == 0:
            return {"every": seconds // (PERIODS[unit] // PERIODS["seconds"]), "period": unit}
    return {"every": seconds, "period": "seconds"}


def _crontab(schedule: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    fields = {name: _cron_field(schedule.get(name))
              for name in ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")}
    zone = schedule.get("timezone")
    if not zone:
        zone = getattr(settings, "CELERY_TIMEZONE", None) or "UTC"
        notes.append(f"its crontab has no time zone (an early django-celery-beat read it in Celery's): {zone} here")
    return {**fields, "timezone": str(zone)}


def _cron_field(value: Any) -> str:
    """A crontab field as django-celery-beat may hold it: Celery's crontab() kept as its repr when a
    list or set was given ('[8, 20]'), spaces after commas (Celery reads them), an empty field (*)."""
    text = "".join(str("*" if value is None else value).split()).strip("[]{}()")
    return text or "*"


def _reuse(model: Any, **fields: Any) -> Any:
    """The first equal schedule row, else a new one checked as the admin checks it."""
    found = model.objects.filter(**fields).order_by("pk").first()
    if found is None:
        found = model(**fields)
        found.full_clean()
        found.save()
    return found


def _json(value: Any, kind: type, name: str) -> Any:
    if value is None or value == "":
        return kind()
    try:
        return json_value(value, kind, name)
    except ValidationError as exc:
        raise RowRefused(f"{' '.join(exc.messages)} (it is {str(value)[:80]!r}); fix it in django-celery-beat's "
                         "table and import again, or make the task in the admin") from exc


def _priority(value: Any, notes: list[str]) -> int | None:
    """Celery on Redis runs priority 0 first (and reads anything above 9 as 9); jobs runs 9 first."""
    if value is None:
        return None
    ours = 9 - min(max(int(value), 0), 9)
    notes.append(f"priority {value} is {ours} here: django-celery-beat's is Celery on Redis's, 0 first; jobs "
                 "runs 9 first (from RabbitMQ, where 9 runs first, set it back in the admin)")
    return ours


def _expires(expires: dt.datetime | None, now: dt.datetime, notes: list[str]) -> dt.datetime | None:
    """django-celery-beat's end time, carried: no runs from then on, and a run not started by then is
    dropped (as there). One that has passed is said: the task is imported, and beat sends it nothing."""
    if expires is not None and expires <= now:
        notes.append(f"expired at {expires:%Y-%m-%d %H:%M} UTC: imported with it, so beat sends it no run (clear "
                     "or move expires in the admin to run it again)")
    return expires


def _not_carried(row: dict[str, Any], notes: list[str]) -> None:
    for name in ("exchange", "routing_key"):
        if row.get(name):
            notes.append(f"{name} {row[name]!r}: not carried, jobs has no AMQP routing (a queue name goes in queue)")
    headers = row.get("headers")
    try:
        extra = json.loads(headers) if isinstance(headers, str) and headers.strip() else headers
    except ValueError:
        extra = headers
    if extra:
        notes.append(f"headers {str(headers)[:80]}: not carried, runs carry no custom headers (pass what the task "
                     "needs in its arguments)")


def _aware(value: Any) -> dt.datetime | None:
    """A datetime column as the raw cursor gives it (aware on PostgreSQL; naive, or text, elsewhere) as
    an aware datetime: naive ones are stored in UTC with USE_TZ, else in TIME_ZONE, as Django does."""
    if value is None or value == "":
        return None
    when: dt.datetime | None = parse_datetime(value) if isinstance(value, str) else value
    if when is None:
        raise RowRefused(f"{value!r} is not a date and time")
    if timezone.is_naive(when):
        when = timezone.make_aware(when, dt.timezone.utc if settings.USE_TZ else timezone.get_default_timezone())
    return when
