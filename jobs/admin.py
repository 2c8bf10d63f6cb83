"""The admin of periodic tasks and their schedules.

Changes take effect on beat's next tick (every save bumps BeatVersion). Actions are POST forms with
Django's CSRF and permission checks (the admin's own), never links.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from .engine import app as engine_app
from .engine.errors import JobsError
from .engine.periodic import Crontab
from .engine.producer import send_task
from .models import BeatVersion, ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, default_timezone


class TaskNameWidget(forms.TextInput):
    """A text box that suggests the task names this process knows (an HTML datalist)."""

    template_name = "admin/jobs/task_name_widget.html"

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, {**(attrs or {}), "list": f"{name}-choices"})
        context["choices"] = list(engine_app.current().registry)
        context["datalist_id"] = f"{name}-choices"
        return context


class PeriodicTaskForm(forms.ModelForm):
    #: When the row was last changed as this form saw it. Beat changes rows too (a one-off task
    #: disables itself after its run): a form opened before that must not silently undo it.
    seen_changed = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and self.instance.date_changed is not None:
            self.fields["seen_changed"].initial = self.instance.date_changed.isoformat()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.instance.pk is not None:
            seen = self.cleaned_data.get("seen_changed")
            now = PeriodicTask.objects.filter(pk=self.instance.pk).values_list("date_changed", flat=True).first()
            if seen and now is not None and now.isoformat() != seen:
                raise forms.ValidationError(
                    "This periodic task changed after you opened it (beat disables a one-off task after its "
                    "run; or someone else saved it). Your edit was not saved: reload the page and make it again.")
        return cleaned

    class Meta:
        model = PeriodicTask
        fields = ["name", "enabled", "task", "schedule", "args", "kwargs", "queue", "priority", "expire_seconds",
                  "one_off", "start_time", "catch_up", "description"]
        widgets = {"task": TaskNameWidget(attrs={"size": 60}),
                   "args": forms.Textarea(attrs={"rows": 2, "cols": 60}),
                   "kwargs": forms.Textarea(attrs={"rows": 3, "cols": 60})}

    def clean_args(self) -> Any:
        value = self.cleaned_data.get("args")
        if value is None:
            return []
        if not isinstance(value, list):
            raise forms.ValidationError('args must be a JSON list, such as [] or [7, "weekly"].')
        return value

    def clean_kwargs(self) -> Any:
        value = self.cleaned_data.get("kwargs")
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError('kwargs must be a JSON object, such as {} or {"format": "pdf"}.')
        return value


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(admin.ModelAdmin):
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
        except (JobsError, ValueError, ArithmeticError):
            return "schedule cannot be used"
        if nxt is None:
            return "—"
        schedule = obj.schedule.engine()
        zone = schedule.timezone if isinstance(schedule, Crontab) else default_timezone()
        local = nxt.astimezone(zoneinfo.ZoneInfo(zone))
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
                result = send_task(row.task, row.args, row.kwargs, queue=row.queue or None, priority=row.priority,
                                   expires=row.expire_seconds)
            except Exception as exc:  # a row saved around the checks, Redis away: said, never a 500
                self.message_user(request, f"{row.name}: not sent: {type(exc).__name__}: {exc}", level=messages.ERROR)
                continue
            sent.append(f"{row.name} ({result.id})")
        if sent:
            self.message_user(request, f"Sent now: {', '.join(sent)}. Their schedules are unchanged.")


@admin.register(CrontabSchedule)
class CrontabScheduleAdmin(admin.ModelAdmin):
    list_display = ["__str__", "minute", "hour", "day_of_week", "day_of_month", "month_of_year", "timezone"]
    list_filter = ["timezone"]


@admin.register(IntervalSchedule)
class IntervalScheduleAdmin(admin.ModelAdmin):
    list_display = ["__str__", "every", "period"]


@admin.register(ClockedSchedule)
class ClockedScheduleAdmin(admin.ModelAdmin):
    list_display = ["__str__", "clocked_time"]
