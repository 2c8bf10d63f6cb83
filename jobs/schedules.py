"""Schedules for JOBS["BEAT_SCHEDULE"], as in Celery's beat_schedule:

    from jobs.schedules import crontab

    JOBS = {"BEAT_SCHEDULE": {
        "send-report-every-morning": {"task": "reports.tasks.send_report",
                                      "schedule": crontab(hour=8, minute=0),
                                      "args": [], "options": {"queue": "reports"}},
        "cleanup": {"task": "core.tasks.cleanup", "schedule": 3600},   # seconds, or a timedelta
    }}

crontab() is called while settings load, before Django can tell the default time zone; a crontab
without timezone= gets JOBS["TIMEZONE"], else TIME_ZONE, when beat syncs it into the database.
timezone= takes a name ("Europe/Paris") or a tzinfo that has one (ZoneInfo("Europe/Paris")).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .engine.api import Crontab, ScheduleError, zone_name

__all__ = ["crontab", "CrontabSpec", "ScheduleError"]


@dataclass(frozen=True)
class CrontabSpec:
    minute: str = "*"
    hour: str = "*"
    day_of_week: str = "*"
    day_of_month: str = "*"
    month_of_year: str = "*"
    timezone: str | None = None

    def resolve(self, default_timezone: str) -> Crontab:
        return Crontab(self.minute, self.hour, self.day_of_week, self.day_of_month, self.month_of_year,
                       self.timezone or default_timezone)


def crontab(minute: str | int = "*", hour: str | int = "*", day_of_week: str | int = "*",
            day_of_month: str | int = "*", month_of_year: str | int = "*",
            timezone: str | dt.tzinfo | None = None) -> CrontabSpec:
    """As Celery's crontab(). `timezone` is an IANA name or a tzinfo that has one (ZoneInfo, pytz,
    datetime.timezone.utc); a fixed offset, or anything else, is a ScheduleError naming it."""
    zone = None if timezone is None else zone_name(timezone)
    spec = CrontabSpec(str(minute), str(hour), str(day_of_week), str(day_of_month), str(month_of_year), zone)
    spec.resolve("UTC")  # a bad field fails here, at settings load, naming the field
    return spec
