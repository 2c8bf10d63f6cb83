"""The schedules a periodic task runs on: crontab, interval and clocked, three kinds on one base table.

A PeriodicTask points at one `Schedule` row, so it cannot point at two or none (django-celery-beat has
a nullable foreign key per kind instead). Each kind is its engine schedule (engine/beat/periodic.py) as
a row: engine() makes it, and the row's checks are the engine's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from ..engine import api as engine_api  # its periodic (beat's schedules) loads when first used: never in a worker
from ..engine.api import ScheduleError
from .values import default_timezone, zone_key

if TYPE_CHECKING:
    from ..engine.api import periodic


class Schedule(models.Model):
    """What the three kinds have in common; use one of them, not this."""

    class Meta:
        verbose_name = "schedule"

    def concrete(self) -> CrontabSchedule | IntervalSchedule | ClockedSchedule:
        for name in ("crontabschedule", "intervalschedule", "clockedschedule"):
            try:
                return cast("CrontabSchedule | IntervalSchedule | ClockedSchedule", getattr(self, name))
            except models.ObjectDoesNotExist:
                continue
        raise ValueError(f"schedule {self.pk} has no kind")

    def engine(self) -> periodic.Crontab | periodic.Interval | periodic.Clocked:
        return self.concrete().engine()

    def __str__(self) -> str:
        try:
            return str(self.concrete())
        except ValueError:
            return f"schedule {self.pk}"

    def _words(self, fields: str) -> str:
        """The schedule in words (what every page listing schedules shows); for a row saved around
        the checks (an update(), raw SQL, an older version), the row and what is wrong with it: a
        page shows every row, and a broken one as broken, never an error page."""
        try:
            return self.engine().describe()
        except Exception as exc:  # any error of a bad row: a zone "America" is an IsADirectoryError in ZoneInfo
            return f"invalid {self._meta.verbose_name} {fields}: {exc}"


class CrontabSchedule(Schedule):
    minute = models.CharField(max_length=240, default="*", help_text="0-59, *, */15, 0,30, 0-10 ...")
    hour = models.CharField(max_length=96, default="*", help_text="0-23")
    day_of_week = models.CharField(
        max_length=64, default="*",
        help_text="0-6 (0 = Sunday; 7 too) or sun-sat; a range may end on Sunday: mon-sun, fri-sun. With a day of "
                  "month too, a day must match both (as in Celery; cron runs on either).")
    day_of_month = models.CharField(
        max_length=124, default="*",
        help_text="1-31, or L for the last day of the month. With a day of week too, a day must match both "
                  "(as in Celery; cron runs on either): 13 with fri is Friday the 13th.")
    month_of_year = models.CharField(max_length=64, default="*", help_text="1-12")
    timezone = models.CharField(max_length=63, default=default_timezone,
                                help_text="IANA time zone the times are in, e.g. Europe/Berlin")

    class Meta:
        verbose_name = "crontab schedule"

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "timezone":  # CrontabSchedule(timezone=ZoneInfo("Europe/Berlin")) stores "Europe/Berlin"
            value = zone_key(value)
        super().__setattr__(name, value)

    def engine(self) -> periodic.Crontab:
        return engine_api.periodic.Crontab(self.minute, self.hour, self.day_of_week, self.day_of_month,
                                           self.month_of_year, self.timezone)

    def clean(self) -> None:
        try:
            self.engine()
        except ScheduleError as exc:
            raise ValidationError({exc.field or "minute": str(exc)}) from exc

    def __str__(self) -> str:
        fields = " ".join(str(getattr(self, name)) for name in engine_api.periodic.FIELDS)
        return self._words(f"{fields} ({self.timezone})")


class IntervalSchedule(Schedule):
    SECONDS, MINUTES, HOURS, DAYS = "seconds", "minutes", "hours", "days"
    PERIODS = [(SECONDS, "seconds"), (MINUTES, "minutes"), (HOURS, "hours"), (DAYS, "days")]
    UNIT = {SECONDS: 1, MINUTES: 60, HOURS: 3600, DAYS: 86400}

    every = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    period = models.CharField(max_length=16, choices=PERIODS, default=MINUTES)

    class Meta:
        verbose_name = "interval schedule"

    def engine(self) -> periodic.Interval:
        return engine_api.periodic.Interval(self.every * self.UNIT[self.period])

    def clean(self) -> None:
        if self.every:
            try:
                self.engine()
            except ScheduleError as exc:
                raise ValidationError({"every": str(exc)}) from exc

    def __str__(self) -> str:
        return self._words(f"every {self.every} {self.period}")


class ClockedSchedule(Schedule):
    clocked_time = models.DateTimeField(help_text="The one time it runs.")

    class Meta:
        verbose_name = "clocked schedule"

    def engine(self) -> periodic.Clocked:
        return engine_api.periodic.Clocked(self.clocked_time)

    def __str__(self) -> str:
        return self._words(f"at {self.clocked_time}")
