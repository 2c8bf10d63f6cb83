"""The admin of periodic tasks and their schedules. Changes take effect on beat's next tick (every
save bumps BeatVersion); running a periodic task now is a right of its own (run_periodictask).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from ..engine import api as engine_api  # its Crontab (beat's schedules) loads with a page: never in a worker
from ..engine.api import app as engine_app
from ..engine.api import send_task
from ..models import (
    BeatVersion,
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    default_timezone,
    json_value,
)
from .address_checked import AddressChecked
from .periodic_form import PeriodicTaskForm


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(AddressChecked):
    form = PeriodicTaskForm
    list_display = ["name", "enabled", "task", "schedule_text", "next_run", "last_run_at", "total_run_count"]
    list_filter = ["enabled", "source", "catch_up", "queue"]
    search_fields = ["name", "task", "description"]
    readonly_fields = ["source", "last_run_at", "total_run_count", "date_changed"]
    actions = ["enable", "disable", "run_now"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PeriodicTask]:
        return super().get_queryset(request).select_related(
            "schedule__crontabschedule", "schedule__intervalschedule", "schedule__clockedschedule")

    @admin.display(description="schedule")
    def schedule_text(self, obj: PeriodicTask) -> str:
        return str(obj.schedule)

    @admin.display(description="next run")
    def next_run(self, obj: PeriodicTask) -> str:
        try:
            nxt = obj.next_run()
            if nxt is None:
                expired = obj.enabled and obj.expires is not None and obj.expires <= dt.datetime.now(dt.timezone.utc)
                return "— (expired)" if expired else "—"
            schedule = obj.schedule.engine()
            zone = schedule.timezone if isinstance(schedule, engine_api.Crontab) else default_timezone()
            local = nxt.astimezone(zoneinfo.ZoneInfo(zone))
        except Exception as exc:  # a row saved around the checks: shown as broken, the page still answers
            return format_html('<strong>{}</strong>', f"schedule cannot be used: {exc}")
        if nxt <= dt.datetime.now(dt.timezone.utc):
            return format_html("<strong>{}</strong>", "due now")
        return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"

    def save_model(self, request: HttpRequest, obj: PeriodicTask, form: Any, change: bool) -> None:
        if change:
            # Only what this form changed: a form opened before beat ran a one-off task must not
            # write back enabled=True (nor any other field someone else changed meanwhile).
            columns = {f.name for f in obj._meta.concrete_fields} - set(PeriodicTask.BEAT_FIELDS)
            obj.save(update_fields=[name for name in form.changed_data if name in columns] + ["date_changed"])
        else:
            obj.save()
        if obj.task not in engine_app.current().registry:
            messages.warning(request, f"This web process does not know a task named {obj.task!r}. It is saved: "
                                      "beat sends it by name, and a worker that knows it will run it. Check the "
                                      "spelling if no worker does.")

    @admin.action(description="Enable selected periodic tasks", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        count = queryset.update(enabled=True, date_changed=timezone.now())
        BeatVersion.bump()  # update() sends no signal
        self.message_user(request, f"{count} periodic task(s) enabled.")

    @admin.action(description="Disable selected periodic tasks", permissions=["change"])
    def disable(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        count = queryset.update(enabled=False, date_changed=timezone.now())
        BeatVersion.bump()
        self.message_user(request, f"{count} periodic task(s) disabled.")

    def has_run_permission(self, request: HttpRequest) -> bool:
        """Running a task now, with the arguments of a periodic task, is a right of its own: a staff
        user who may edit schedules may not necessarily send any task."""
        return request.user.has_perm(f"{self.opts.app_label}.run_periodictask")

    @admin.action(description="Run selected periodic tasks now", permissions=["run"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        sent = []
        for row in queryset:
            try:
                # As beat reads them: JSON text left by an update() or raw SQL is its list, not its characters.
                result = send_task(row.task, json_value(row.args, list, "args"), json_value(row.kwargs, dict, "kwargs"),
                                   queue=row.queue or None, priority=row.priority, expires=row.expire_seconds)
            except Exception as exc:  # a row saved around the checks, Redis away: said, never a 500
                self.message_user(request, f"{row.name}: not sent: {type(exc).__name__}: {exc}", level=messages.ERROR)
                continue
            sent.append(f"{row.name} ({result.id})")
        if sent:
            self.message_user(request, f"Sent now: {', '.join(sent)}. Their schedules are unchanged.")


@admin.register(CrontabSchedule)
class CrontabScheduleAdmin(AddressChecked):
    list_display = ["__str__", "minute", "hour", "day_of_week", "day_of_month", "month_of_year", "timezone"]
    list_filter = ["timezone"]


@admin.register(IntervalSchedule)
class IntervalScheduleAdmin(AddressChecked):
    list_display = ["__str__", "every", "period"]


@admin.register(ClockedSchedule)
class ClockedScheduleAdmin(AddressChecked):
    list_display = ["__str__", "clocked_time"]
