"""Periodic tasks and their schedules, edited in the Django admin and read by `runbeat`; and the
task history (TaskResult), written by the workers' recorders (jobs/history.py).

A PeriodicTask has exactly one schedule: the three kinds (crontab, interval, clocked) share a base
table, so the task points at one `Schedule` row and cannot point at two or none (django-celery-beat
has a nullable foreign key per kind instead). Every change to any of these rows bumps one version
counter (BeatVersion); beat reads that one row each tick and reloads the schedules only when it
changed, so an edit in the admin takes effect on the next tick without reading every row each second.
django-celery-beat's keywords and attributes (`interval=`, `task.crontab`...) work on top of
`schedule` (celery_beat_compat.py); its rows are copied by `manage.py jobs import-celery-beat`.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F

from .compat.celery_beat import CeleryBeatKeywords, PeriodicTaskQuerySet
from .engine.api import ScheduleError, check_name, periodic


def zone_key(value: Any) -> Any:
    """A time zone object as the IANA name it stands for (django-celery-beat's timezone field holds
    ZoneInfo objects, so ported code passes them); anything else is left for the checks to judge."""
    if not isinstance(value, dt.tzinfo):
        return value
    try:
        return periodic.zone_name(value)
    except ScheduleError as exc:
        raise ValueError(str(exc)) from exc


def default_timezone() -> str:
    jobs = getattr(settings, "JOBS", {}) or {}
    return jobs.get("TIMEZONE") or settings.TIME_ZONE or "UTC"


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_TINY = dt.timedelta(microseconds=1)


def validate_name(value: str) -> None:
    """Task and queue names travel in a message's plain-text header and in Redis keys: a name with a
    '|' or a space would break the message (config.check_name)."""
    check_name("this name", value, ValidationError)


def json_value(value: Any, kind: type, field: str) -> Any:
    """args/kwargs as JSON data: django-celery-beat stores them as JSON text ('["a", 1]'), which is
    read here; what is neither the right JSON type nor text holding it is refused, naming the field.
    So is what JSON cannot carry: NaN and Infinity (Python's json reads and writes them, but they are
    not JSON, and the database refuses the row: an IntegrityError on SQLite, a DataError on
    PostgreSQL, a 500 in the admin), and values json cannot encode at all."""
    what = "list" if kind is list else "object"
    if isinstance(value, str):
        try:
            value = json.loads(value, parse_constant=_not_json) if value.strip() else kind()
        except ValueError as exc:
            raise ValidationError({field: f"{field} is text that is not JSON ({exc}): give a JSON {what}"}) from exc
    if value is None:
        value = kind()
    if kind is list and isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, kind):
        example = '[1, "a"]' if kind is list else '{"a": 1}'
        raise ValidationError({field: f"{field} must be a JSON {what}, e.g. {example}, not {type(value).__name__}"})
    try:
        json.dumps(value, allow_nan=False)
    except (ValueError, TypeError, RecursionError) as exc:  # NaN, Infinity; a set; a list that holds itself
        said = ("NaN and Infinity are not JSON numbers: send them as text (\"NaN\") or leave them out"
                if "float" in str(exc) else f"give a JSON {what} of lists, objects, text, numbers, true, false, null")
        raise ValidationError({field: f"{field} holds a value JSON cannot carry ({exc}); {said}"}) from exc
    return value


def _not_json(constant: str) -> Any:
    """json.loads's reading of NaN, Infinity and -Infinity: refused (see json_value)."""
    raise ValueError(f"{constant} is not a JSON number")


class Schedule(models.Model):
    """What the three kinds have in common; use one of them, not this."""

    class Meta:
        verbose_name = "schedule"

    def concrete(self) -> CrontabSchedule | IntervalSchedule | ClockedSchedule:
        for name in ("crontabschedule", "intervalschedule", "clockedschedule"):
            try:
                return getattr(self, name)
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
        return periodic.Crontab(self.minute, self.hour, self.day_of_week, self.day_of_month,
                                 self.month_of_year, self.timezone)

    def clean(self) -> None:
        try:
            self.engine()
        except ScheduleError as exc:
            raise ValidationError({exc.field or "minute": str(exc)}) from exc

    def __str__(self) -> str:
        fields = " ".join(str(getattr(self, name)) for name in periodic.FIELDS)
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
        return periodic.Interval(self.every * self.UNIT[self.period])

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
        return periodic.Clocked(self.clocked_time)

    def __str__(self) -> str:
        return self._words(f"at {self.clocked_time}")


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

    #: Written by beat alone, with its conditional UPDATE (beat_store.py).
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
        if isinstance(schedule, periodic.Clocked) and self.start_time is not None and self.start_time > schedule.at:
            return periodic.Clocked(self.start_time)
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
        if isinstance(schedule, periodic.Clocked) and self.last_run_at is None:
            return EPOCH
        start = self.start_time
        if start is None:
            return self.last_run_at or self.date_created
        before_start = start - _TINY
        if isinstance(schedule, periodic.Interval):
            before_start = start - dt.timedelta(seconds=schedule.seconds)
        if self.last_run_at is not None:
            return max(self.last_run_at, before_start)
        if start > self.date_created:
            return before_start
        if isinstance(schedule, periodic.Interval):
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


class TaskResult(models.Model):
    """What happened to one task, last: written by the workers' recorders, in batches (history.py),
    read in the admin, pruned after JOBS["HISTORY_KEEP"]. Rows are upserted by task id and
    replaced only by a later stage of the same task (`stage`), so a retried task has one row that
    ends with its outcome."""

    task_id = models.CharField("task id", max_length=255, unique=True)
    name = models.CharField("task", max_length=255)
    status = models.CharField(max_length=64)
    #: JSON text, as it may be stored: JOBS["REDACT"] and STORED_ARGS_MAX applied (redact.py).
    args = models.TextField(null=True, blank=True)
    kwargs = models.TextField(null=True, blank=True)
    args_complete = models.BooleanField(
        "arguments complete", default=True,
        help_text="False: some arguments are stored redacted or described (REDACT, STORED_ARGS_MAX), so the task "
                  "cannot be run again from this row.")
    #: JSON text: the return value; for other states, an object saying what happened.
    result = models.TextField(null=True, blank=True)
    traceback = models.TextField(null=True, blank=True)
    queue = models.CharField(max_length=200, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    retries = models.PositiveIntegerField(default=0)
    date_enqueued = models.DateTimeField("enqueued", null=True, blank=True)
    date_started = models.DateTimeField("started", null=True, blank=True)
    date_done = models.DateTimeField("done", null=True, blank=True)
    runtime = models.FloatField(null=True, blank=True, help_text="Seconds the last run took.")
    parent_id = models.CharField(
        "parent", max_length=255, null=True, blank=True,
        help_text="What sent it: the task it was called from, the chain step before it, its chord, or the task "
                  "it runs again.")
    #: Orders the records of one task id (history.stage); a row is only replaced by a later one.
    stage = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = "task result"
        ordering = ["-date_done"]
        indexes = [
            models.Index(fields=["date_done"], name="jobs_result_done"),
            models.Index(fields=["status", "date_done"], name="jobs_result_status_done"),
            models.Index(fields=["name", "date_done"], name="jobs_result_name_done"),
            # Only rows that have a parent (most have none, and cost no index update for it).
            models.Index(fields=["parent_id"], name="jobs_result_parent", condition=models.Q(parent_id__isnull=False)),
        ]
        # Acting on a recorded task is a right apart from reading the history.
        permissions = [("rerun_taskresult", "Can run recorded tasks again"),
                       ("revoke_taskresult", "Can revoke recorded tasks")]

    def __str__(self) -> str:
        return f"{self.name}[{self.task_id}] {self.status}"


class Console(TaskResult):
    """No table of its own: the operations console (jobs/console) is an admin page, and this is what
    puts it in the admin's index ("Console" under Jobs) and carries its two rights: to look (view)
    and to act (operate: purge, pause, shut a worker down, revoke, requeue, run again, delete)."""

    class Meta:
        proxy = True
        verbose_name = "console"
        verbose_name_plural = "console"
        default_permissions = ("view",)
        permissions = [("operate_console", "Can act from the operations console")]
