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

The tables are read by celery_beat_tables.py, each row becomes jobs' fields in celery_beat_rows.py;
here each is written, in its savepoint, and reported.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, router, transaction
from django.db.models import Q
from django.utils import timezone

from ..engine.api import ScheduleError
from ..models import BeatVersion, PeriodicTask
from .celery_beat_rows import RowRefused, RowSkipped, translate
from .celery_beat_tables import CannotImport, Source, read

__all__ = ["CannotImport", "Line", "import_celery_beat", "report"]


@dataclass
class Line:
    """One periodic task of django-celery-beat, as the report shows it."""

    outcome: str  # created, updated, unchanged, skipped or error
    name: str
    text: str
    notes: list[str] = field(default_factory=list)


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
            values, beat = translate(row, source, now, notes)
            return _write(name, values, beat, notes)
    except RowSkipped as exc:
        return Line("skipped", name, str(exc), notes)
    except RowRefused as exc:
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


def _write(name: str, values: dict[str, Any], beat: dict[str, Any], notes: list[str]) -> Line:
    described = f"{values['task']}, {values['schedule']}" + ("" if values["enabled"] else " (disabled)")
    row = PeriodicTask.objects.filter(name=name).first()
    if row is None:
        row = PeriodicTask(name=name, **values, **beat)
        row.full_clean()
        row.save()
        return Line("created", name, described, notes)
    if row.source != PeriodicTask.ADMIN:
        raise RowSkipped("a periodic task of this name comes from JOBS['BEAT_SCHEDULE']: it is left alone (remove "
                         "it from the settings to import django-celery-beat's)")
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
