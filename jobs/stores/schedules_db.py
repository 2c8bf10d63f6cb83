"""Beat's store in the database: periodic tasks in, runs recorded out; and the settings sync.

Runs are recorded with a conditional UPDATE (only if the row's last run is older than this one), so
two beats recording the same run (a hand-over) count it once, and `last_run_at` only moves forward.
It is an UPDATE, not a save(): it fires no signal and does not bump the version, so beat's own
bookkeeping never makes it reload.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import close_old_connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from ..engine.api import Clocked, Entry, ScheduleError, check_name
from ..models import (
    BeatVersion,
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    default_timezone,
    json_value,
)
from ..schedules import CrontabSpec

logger = logging.getLogger("jobs.beat")


class ScheduleDatabase:
    """Beat's Store (engine/beat/scheduler.py) on the database: `runbeat` reads its periodic tasks here."""

    def version(self) -> int:
        close_old_connections()  # a connection the database dropped is replaced, not reused
        return BeatVersion.current()

    def load(self) -> list[Entry]:
        rows = PeriodicTask.objects.filter(enabled=True).select_related(
            "schedule__crontabschedule", "schedule__intervalschedule", "schedule__clockedschedule")
        entries = []
        for row in rows:
            try:
                entries.append(_entry(row))
            except Exception as exc:  # one bad row costs its own runs, never the others'
                logger.error("beat: periodic task %r cannot be sent (%s: %s); skipped until it is fixed in the admin",
                             row.name, type(exc).__name__, exc)
        return entries

    def record(self, entry: Entry, due: dt.datetime, sent: bool) -> None:
        changes: dict[str, Any] = {"last_run_at": due}
        if sent:
            changes["total_run_count"] = F("total_run_count") + 1
        # A one-off disables itself once it has run; one whose run was skipped (catch_up="none")
        # waits for its next time. A clocked schedule has no next time: its one run is always sent.
        if (entry.one_off and sent) or isinstance(entry.schedule, Clocked):
            changes["enabled"] = False
            changes["date_changed"] = timezone.now()  # an admin form opened before this sees it changed
        PeriodicTask.objects.filter(pk=entry.id).filter(
            Q(last_run_at__isnull=True) | Q(last_run_at__lt=due)).update(**changes)


def _entry(row: PeriodicTask) -> Entry:
    """A row as beat sends it; raises what is wrong with a row saved around the model's checks
    (an update(), raw SQL, an older version): a bad schedule, name, args or kwargs."""
    schedule = row.engine_schedule()
    for what, name in (("task", row.task), ("queue", row.queue)):
        if name or what == "task":
            check_name(f"its {what}", name, ValueError)
    return Entry(
        id=row.pk, name=row.name, task=row.task, schedule=schedule, since=row.since(schedule),
        args=json_value(row.args, list, "args"), kwargs=json_value(row.kwargs, dict, "kwargs"), queue=row.queue,
        priority=row.priority, expire_seconds=row.expire_seconds, one_off=row.one_off, catch_up=row.catch_up,
        expires=row.expires,
    )


# -- JOBS["BEAT_SCHEDULE"] -> the database --------------------------------------------------------

ENTRY_KEYS = {"task", "schedule", "args", "kwargs", "options", "catch_up", "description", "one_off"}
OPTION_KEYS = {"queue", "priority", "expires"}


def sync_settings(beat_schedule: dict[str, Any]) -> None:
    """Create or update one periodic task per entry (source "settings"); disable, never delete, those
    that were removed from the settings. Periodic tasks made in the admin are left alone."""
    names = set()
    with transaction.atomic():
        for name, spec in beat_schedule.items():
            names.add(name)
            _sync_one(name, spec)
        gone = PeriodicTask.objects.filter(source=PeriodicTask.SETTINGS).exclude(name__in=names)
        for row in gone:
            logger.warning("beat: %r is no longer in JOBS['BEAT_SCHEDULE']: disabled (delete it in the admin "
                           "if it should go)", row.name)
            row.enabled, row.source = False, PeriodicTask.REMOVED
            row.save(update_fields=["enabled", "source", "date_changed"])
        BeatVersion.bump()


def _sync_one(name: str, spec: Any) -> None:
    where = f"JOBS['BEAT_SCHEDULE'][{name!r}]"
    if not isinstance(spec, dict) or "task" not in spec or "schedule" not in spec:
        raise ScheduleError(f"{where} must be a dict with at least 'task' and 'schedule'")
    unknown = set(spec) - ENTRY_KEYS
    if unknown:
        raise ScheduleError(f"{where} has unknown key(s) {sorted(unknown)}; known: {sorted(ENTRY_KEYS)}")
    options = spec.get("options") or {}
    unknown = set(options) - OPTION_KEYS
    if unknown:
        raise ScheduleError(f"{where}['options'] has unknown key(s) {sorted(unknown)}; known: {sorted(OPTION_KEYS)}")
    values = {
        "task": spec["task"], "schedule": schedule_row(spec["schedule"], where),
        "args": list(spec.get("args") or []), "kwargs": dict(spec.get("kwargs") or {}),
        "queue": options.get("queue", ""), "priority": options.get("priority"),
        "expire_seconds": options.get("expires"), "catch_up": spec.get("catch_up", "once"),
        "description": spec.get("description", ""), "one_off": bool(spec.get("one_off", False)),
    }
    row = PeriodicTask.objects.filter(name=name).first()
    if row is not None and row.source == PeriodicTask.ADMIN:
        logger.warning("beat: %s has the name of a periodic task made in the admin; the admin's is kept", where)
        return
    if row is None:
        PeriodicTask.objects.create(name=name, source=PeriodicTask.SETTINGS, enabled=True, **values)
        return
    # `enabled` is left as it is: a one-off that ran has disabled itself, and one an operator
    # disabled in the admin stays disabled across restarts. Only one that comes back to the
    # settings after it was removed from them is enabled again.
    if row.source == PeriodicTask.REMOVED:
        values.update(source=PeriodicTask.SETTINGS, enabled=True)
    if any(getattr(row, key) != value for key, value in values.items()):
        for key, value in values.items():
            setattr(row, key, value)
        row.save()


def schedule_row(value: Any, where: str = "schedule") -> Any:
    """A CrontabSpec, seconds, a timedelta or an aware datetime -> a schedule row (reused if equal)."""
    if isinstance(value, CrontabSpec):
        crontab = value.resolve(default_timezone())
        return _reuse(CrontabSchedule, minute=crontab.minute, hour=crontab.hour, day_of_week=crontab.day_of_week,
                      day_of_month=crontab.day_of_month, month_of_year=crontab.month_of_year,
                      timezone=crontab.timezone)
    if isinstance(value, dt.timedelta):
        value = value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        seconds = int(value)
        if seconds != value:
            raise ScheduleError(f"{where}: schedule {value!r} must be a whole number of seconds")
        for period in (IntervalSchedule.DAYS, IntervalSchedule.HOURS, IntervalSchedule.MINUTES):
            unit = IntervalSchedule.UNIT[period]
            if seconds % unit == 0:
                return _reuse(IntervalSchedule, every=seconds // unit, period=period)
        return _reuse(IntervalSchedule, every=seconds, period=IntervalSchedule.SECONDS)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return _reuse(ClockedSchedule, clocked_time=value)
    raise ScheduleError(f"{where}: schedule must be crontab(...), seconds, a timedelta or an aware datetime, "
                        f"not {value!r}")


def _reuse(model: Any, **fields: Any) -> Any:
    """The first schedule row with these fields, else a new one. Not get_or_create: an operator may
    well have made a second, equal row in the admin, and that must not stop the sync."""
    return model.objects.filter(**fields).order_by("pk").first() or model.objects.create(**fields)
