"""Periodic tasks, edited in the Django admin and read by `runbeat`, and the version beat watches.

Every change to a periodic task or a schedule bumps one version counter (BeatVersion); beat reads that
one row each tick and reloads the schedules only when it changed, so an edit in the admin takes effect
on the next tick without reading every row each second. django-celery-beat's keywords and attributes
(`interval=`, `task.crontab`...) work on top of `schedule` (celery_beat_keywords.py).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F

from ..engine import api as engine_api  # its periodic (beat's schedules) loads when first used: never in a worker
from .celery_beat_keywords import CeleryBeatKeywords, PeriodicTaskQuerySet
from .schedule_kinds import Schedule
from .values import json_value, validate_name

if TYPE_CHECKING:
    from ..engine.api import periodic

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_TINY = dt.timedelta(microseconds=1)


class PeriodicTask(CeleryBeatKeywords, models.Model):
    ADMIN, SETTINGS, REMOVED = "admin", "settings", "removed"
    CATCH_UP = [("once", "once: after downtime, send one run for the missed ones"),
                ("none", "none: skip runs missed by more than a minute")]

    name = models.CharField(max_length=200, unique=True, help_text="A name for people; unique.")
    task = models.CharField(max_length=200, validators=[validate_name],
                            help_text="The registered task name, e.g. reports.tasks.send_report")
    schedule = models.ForeignKey(Schedule, on_delete=models.PROTECT, related_name="periodic_tasks",
                                 help_text="Make one first under Crontab, Interval or Clocked schedules.")
    args = models.JSONField(default=list, blank=True, help_text='A JSON list, e.g. ["weekly", 7]')
    kwargs = models.JSONField(default=dict, blank=True, help_text='A JSON object, e.g. {"format": "pdf"}')
    queue = models.CharField(max_length=200, blank=True, validators=[validate_name],
                             help_text="Empty: the task's own queue.")
    priority = models.PositiveSmallIntegerField(null=True, blank=True,
                                                validators=[MinValueValidator(0), MaxValueValidator(9)],
                                                help_text="0-9, 9 first. Empty: the task's own.")
    expire_seconds = models.PositiveIntegerField(null=True, blank=True,
                                                 help_text="Not run if not started within this many seconds.")
    expires = models.DateTimeField(null=True, blank=True,
                                   help_text="No runs from this time on; a run sent before it that has not "
                                             "started by then is not run (django-celery-beat's expires).")
    one_off = models.BooleanField(default=False, help_text="Run once, then disable itself.")
    start_time = models.DateTimeField(null=True, blank=True, help_text="No runs before this time.")
    enabled = models.BooleanField(default=True)
    catch_up = models.CharField(max_length=8, choices=CATCH_UP, default="once")
    description = models.TextField(blank=True)
    source = models.CharField(max_length=16, choices=[(ADMIN, "admin"), (SETTINGS, "settings"),
                                                               (REMOVED, "settings, since removed from them")],
                              default=ADMIN,
                              editable=False, help_text="settings: kept in step with JOBS['BEAT_SCHEDULE'].")
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    total_run_count = models.PositiveIntegerField(default=0, editable=False)
    date_created = models.DateTimeField(auto_now_add=True)
    date_changed = models.DateTimeField(auto_now=True)

    objects = PeriodicTaskQuerySet.as_manager()

    class Meta:
        verbose_name = "periodic task"
        ordering = ["name"]
        # Running a periodic task's task now sends it with its arguments: a right of its own, apart
        # from changing the schedule (admin action "Run selected periodic tasks now").
        permissions = [("run_periodictask", "Can run periodic tasks now")]

    def __str__(self) -> str:
        return self.name

    #: Written by beat alone, with its conditional UPDATE (stores/schedules_db.py).
    BEAT_FIELDS = ("last_run_at", "total_run_count")

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Saving a row loaded a while ago must not write back its stale last run and count: beat
        would think the runs since had not happened and send them again. So an update leaves them
        out, unless update_fields names them. What beat could not send is refused first
        (check_sendable), however the row is saved."""
        self.check_sendable()
        if not self._state.adding and self.pk is not None and kwargs.get("update_fields") is None \
                and not kwargs.get("force_insert"):
            kwargs["update_fields"] = [f.name for f in self._meta.concrete_fields
                                       if not f.primary_key and f.name not in self.BEAT_FIELDS]
        super().save(*args, **kwargs)

    def check_sendable(self) -> None:
        """Refuse, naming the field, what beat could not send (the admin's form says it first, field
        by field): a task or queue name that would break the message, args or kwargs that are not a
        JSON list and object (JSON text, as django-celery-beat stores them, is read here, so the row
        holds the list), a priority outside 0-9, no schedule. Run by save() and bulk_create()."""
        self.args = json_value(self.args, list, "args")
        self.kwargs = json_value(self.kwargs, dict, "kwargs")
        for field in ("task", "queue"):
            value = getattr(self, field)
            if value or field == "task":
                try:
                    validate_name(value)
                except ValidationError as exc:
                    raise ValidationError({field: exc.messages}) from exc
        if self.priority is not None and not (isinstance(self.priority, int) and 0 <= self.priority <= 9):
            raise ValidationError({"priority": f"priority {self.priority!r} is not a whole number 0-9: 9 runs first, "
                                               "0 last (Celery on Redis runs 0 first: its p is 9 - p here)"})
        if self.schedule_id is None and self._meta.get_field("schedule").get_cached_value(self, None) is None:
            raise ValidationError({"schedule": "a periodic task needs a schedule: give schedule= (or, as in "
                                               "django-celery-beat, interval=, crontab= or clocked=)"})

    def clean(self) -> None:
        self.args = json_value(self.args, list, "args")
        self.kwargs = json_value(self.kwargs, dict, "kwargs")

    def engine_schedule(self) -> periodic.Crontab | periodic.Interval | periodic.Clocked:
        """Its schedule as beat runs it: a clocked time before the start time runs at the start time
        ("no runs before this time")."""
        schedule = self.schedule.engine()
        clocked = engine_api.periodic.Clocked
        if isinstance(schedule, clocked) and self.start_time is not None and self.start_time > schedule.at:
            return clocked(self.start_time)
        return schedule

    def since(self, schedule: periodic.Crontab | periodic.Interval | periodic.Clocked) -> dt.datetime:
        """The instant after which beat looks for its next run.

        After a run: that run (but never before the start time, should it have been moved later).
        Before the first run: when the periodic task was made; with a start time, just before it, so
        that an interval's first run is at the start time itself (then every period from there, even
        when the start time is less than one period away), and a crontab's at its first time from
        the start time on. An interval whose start time had passed when it was made keeps to the
        times start + k periods. A clocked run not made yet is due at its time, even one already
        past (its start time, if later, moves it: engine_schedule)."""
        assert self.date_created is not None
        if isinstance(schedule, engine_api.periodic.Clocked) and self.last_run_at is None:
            return EPOCH
        start = self.start_time
        if start is None:
            return self.last_run_at or self.date_created
        before_start = start - _TINY
        if isinstance(schedule, engine_api.periodic.Interval):
            before_start = start - dt.timedelta(seconds=schedule.seconds)
        if self.last_run_at is not None:
            return max(self.last_run_at, before_start)
        if start > self.date_created:
            return before_start
        if isinstance(schedule, engine_api.periodic.Interval):
            return schedule.last_at_or_before(self.date_created, before_start) or before_start
        return self.date_created

    def next_run(self, now: dt.datetime | None = None) -> dt.datetime | None:
        """When beat will next send it (aware UTC; `now` if it is due), or None: disabled, expired, or
        a clocked run that was made. Exactly what beat computes (periodic.to_send): a run missed with
        catch up "none" is skipped, so the next is the one after it; a one-off enabled again after its
        run runs once more, at its schedule's next time (a clocked one only if given a new time)."""
        if not self.enabled:
            return None
        now = now or dt.datetime.now(dt.timezone.utc)
        if self.expires is not None and now >= self.expires:
            return None
        if self.date_created is None:
            self.date_created = now
        schedule = self.engine_schedule()
        since = self.since(schedule)
        periodic = engine_api.periodic
        due = periodic.due_runs(schedule, since, now, periodic.LATE_GRACE)
        runs, skipped = periodic.to_send(due, self.catch_up, self.one_off, isinstance(schedule, periodic.Clocked))
        nxt = now if runs else schedule.next_after(skipped or since)  # due: beat sends it on its next tick
        if nxt is not None and self.expires is not None and nxt >= self.expires:
            return None
        return nxt


class BeatVersion(models.Model):
    """One row, bumped on every change to periodic tasks and schedules (see the module docstring)."""

    version = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "beat version"

    @classmethod
    def bump(cls) -> None:
        if not cls.objects.filter(pk=1).update(version=F("version") + 1):
            cls.objects.get_or_create(pk=1, defaults={"version": 1})

    @classmethod
    def current(cls) -> int:
        return cls.objects.filter(pk=1).values_list("version", flat=True).first() or 0
