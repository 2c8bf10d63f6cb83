"""Copying django-celery-beat's periodic tasks and their schedules into jobs' (`manage.py jobs
import-celery-beat`).

A project ported from Celery still has django-celery-beat's tables once `django_celery_beat` has left
INSTALLED_APPS, so they are read with plain SQL (there are no models to read them with), only the
columns its version has. Each of its periodic tasks becomes a jobs PeriodicTask with the schedule it
had, and gets one line of the report: created, updated, unchanged, skipped (and why), or error (and
what to fix). Below a line, what could not be carried is named (exchange, routing key, headers).

- Matched by name, unique in both tables: importing again updates what changed in django-celery-beat
  since, and doubles nothing. A jobs row made from JOBS["BEAT_SCHEDULE"] is left alone.
- A schedule equal to one jobs has is reused, so importing again makes none.
- The last run and the run count only move forward, as beat records them: importing again after
  jobs' beat has run does not roll them back (nor make beat send those runs again).
- One savepoint per task: a row that cannot be imported costs only itself. A dry run does everything
  in one transaction rolled back at the end, so it reports what a real run would do, errors included.
- An error is a row that is broken for jobs (JSON that is not a list, a crontab jobs refuses, a
  schedule row that is missing); skipped is what jobs has no equivalent for, on purpose (solar
  schedules, sub-second intervals, django-celery-results' cleanup task, one-off tasks done).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connections, router, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..engine.api import ScheduleError
from ..models import BeatVersion, ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, json_value

PREFIX = "django_celery_beat_"
KINDS = ("interval", "crontab", "clocked", "solar")
#: A django-celery-beat interval period -> its length in microseconds.
PERIODS = {"days": 86_400_000_000, "hours": 3_600_000_000, "minutes": 60_000_000, "seconds": 1_000_000,
           "microseconds": 1}
CLEANUP_TASK = "celery.backend_cleanup"


class CannotImport(Exception):
    """Nothing can be imported from this database: the message says why."""


class _Skip(Exception):
    """jobs has no equivalent for this row, on purpose: it is not imported (the message says why)."""


class _Refused(Exception):
    """This row is broken for jobs: not imported (the message says what to fix)."""


@dataclass
class Line:
    """One periodic task of django-celery-beat, as the report shows it."""

    outcome: str  # created, updated, unchanged, skipped or error
    name: str
    text: str
    notes: list[str] = field(default_factory=list)


@dataclass
class Source:
    """django-celery-beat's rows, each a dict by column; schedules by id."""

    tasks: list[dict[str, Any]]
    schedules: dict[str, dict[Any, dict[str, Any]]]


def read(using: str) -> Source:
    """Every row of django-celery-beat's tables in the database `using` (a table its version did not
    have reads as empty; a column it did not have is absent from the dicts)."""
    if using not in connections:
        raise CannotImport(f"there is no database {using!r} in DATABASES; there are: {', '.join(connections)}")
    connection = connections[using]
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
        if f"{PREFIX}periodictask" not in tables:
            raise CannotImport(f"there is no {PREFIX}periodictask table in the database {using!r} "
                           f"({connection.settings_dict.get('NAME')}): point --database at the database "
                           "django-celery-beat used")

        def rows(table: str) -> list[dict[str, Any]]:
            if table not in tables:
                return []
            columns = [c.name for c in connection.introspection.get_table_description(cursor, table)]
            quote = connection.ops.quote_name
            cursor.execute(f"SELECT {', '.join(map(quote, columns))} FROM {quote(table)} ORDER BY {quote('id')}")
            return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

        schedules = {kind: {row["id"]: row for row in rows(f"{PREFIX}{kind}schedule")} for kind in KINDS}
        return Source(tasks=rows(f"{PREFIX}periodictask"), schedules=schedules)


def import_celery_beat(using: str = "default", dry_run: bool = False) -> list[Line]:
    """Import every periodic task of django-celery-beat's tables in `using` into jobs' tables (in the
    database Django's routers give PeriodicTask); the report, one Line per task."""
    source = read(using)
    target = router.db_for_write(PeriodicTask)
    now = timezone.now()
    lines = []
    with transaction.atomic(using=target):
        for row in source.tasks:
            lines.append(_import_one(row, source, target, now))
        if dry_run:
            transaction.set_rollback(True, using=target)
    return lines


OUTCOMES = ("created", "updated", "unchanged", "skipped", "error")


def report(lines: list[Line], using: str, dry_run: bool) -> list[str]:
    """The report's text: a line per periodic task (and one per thing not carried), then the tally."""
    width = max(map(len, OUTCOMES))
    out = [f"Dry run: nothing is written. Importing from django-celery-beat's tables in {using!r} would do:"
           if dry_run else f"Imported from django-celery-beat's tables in {using!r}:"]
    for line in lines:
        out.append(f"  {line.outcome:<{width}}  {line.name}: {line.text}")
        out.extend(f"  {'':<{width}}    - {note}" for note in line.notes)
    tally = ", ".join(f"{sum(line.outcome == o for line in lines)} {o}" for o in OUTCOMES)
    out.append(f"{len(lines)} periodic task(s): {tally}" + (" (dry run: nothing written)" if dry_run else ""))
    return out


def _import_one(row: dict[str, Any], source: Source, target: str, now: dt.datetime) -> Line:
    name = str(row["name"])
    notes: list[str] = []
    try:
        with transaction.atomic(using=target):
            values, beat = _translate(row, source, now, notes)
            return _write(name, values, beat, notes)
    except _Skip as exc:
        return Line("skipped", name, str(exc), notes)
    except _Refused as exc:
        return Line("error", name, str(exc), notes)
    except ValidationError as exc:
        return Line("error", name, _said(exc), notes)
    except (ScheduleError, ValueError, DatabaseError) as exc:
        return Line("error", name, f"{type(exc).__name__}: {exc}", notes)


def _said(error: ValidationError) -> str:
    """A model's errors, each named by its field (once: the schedules' messages name it already)."""
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    return "; ".join(message if key == "__all__" or message.startswith(key) else f"{key}: {message}"
                     for key, messages in error.message_dict.items() for message in messages)


def _translate(row: dict[str, Any], source: Source, now: dt.datetime,
               notes: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The jobs PeriodicTask fields for one django-celery-beat row, and its last run and count."""
    if row["task"] == CLEANUP_TASK:
        raise _Skip("django-celery-beat's own task for django-celery-results' cleanup: jobs prunes its task "
                    "history by itself (JOBS['HISTORY_KEEP'], manage.py jobs prune)")
    enabled, one_off = bool(row.get("enabled", True)), bool(row.get("one_off", False))
    if one_off and (not enabled or (row.get("total_run_count") or 0) > 0):
        raise _Skip("a one-off task that has run (or was disabled before it did): nothing is left to run")
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
        raise _Refused("it has no schedule" if not given else
                       f"it has more than one schedule ({' and '.join(given)}), which django-celery-beat "
                       "refuses too: keep one there and import again, or make it in the admin")
    kind, ident = given[0], row[f"{given[0]}_id"]
    schedule = source.schedules[kind].get(ident)
    if schedule is None:
        raise _Refused(f"its {kind} schedule {ident} is not in {PREFIX}{kind}schedule")
    if kind == "solar":
        raise _Skip(f"a solar schedule ({schedule.get('event')} at latitude {schedule.get('latitude')}, longitude "
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
        raise _Refused(f"its interval is every {every!r} {period!r}: give a whole number of seconds, minutes, hours "
                       "or days in the admin")
    if period != "microseconds":
        return {"every": every, "period": period}
    seconds, rest = divmod(every, PERIODS["seconds"])
    if rest or not seconds:
        raise _Skip(f"every {every} microseconds: jobs runs intervals in whole seconds; make it every "
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
        raise _Refused(f"{' '.join(exc.messages)} (it is {str(value)[:80]!r}); fix it in django-celery-beat's "
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
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            raise _Refused(f"{value!r} is not a date and time")
        value = parsed
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.timezone.utc if settings.USE_TZ else timezone.get_default_timezone())
    return value


def _write(name: str, values: dict[str, Any], beat: dict[str, Any], notes: list[str]) -> Line:
    described = f"{values['task']}, {values['schedule']}" + ("" if values["enabled"] else " (disabled)")
    row = PeriodicTask.objects.filter(name=name).first()
    if row is None:
        row = PeriodicTask(name=name, **values, **beat)
        row.full_clean()
        row.save()
        return Line("created", name, described, notes)
    if row.source != PeriodicTask.ADMIN:
        raise _Skip("a periodic task of this name comes from JOBS['BEAT_SCHEDULE']: it is left alone (remove it "
                    "from the settings to import django-celery-beat's)")
    changed = [key for key, value in values.items()
               if (row.schedule_id != value.pk if key == "schedule" else getattr(row, key) != value)]
    for key in changed:
        setattr(row, key, values[key])
    if changed:
        row.full_clean()
        row.save()
    last = beat["last_run_at"]
    if last is not None and PeriodicTask.objects.filter(pk=row.pk).filter(
            Q(last_run_at__isnull=True) | Q(last_run_at__lt=last)).update(**beat):
        changed.append("last run")
        BeatVersion.bump()  # update() sends no signal: beat reads the row again
    if not changed:
        return Line("unchanged", name, described, notes)
    return Line("updated", name, f"{described}; changed: {', '.join(changed)}", notes)
