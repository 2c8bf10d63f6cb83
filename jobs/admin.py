"""The admin of periodic tasks and their schedules, and of the task history (the operations console
is registered by jobs/console/admin.py).

Changes to schedules take effect on beat's next tick (every save bumps BeatVersion). The history is
read-only: the workers write it. Actions are POST forms with Django's CSRF and permission checks
(the admin's own), never links.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import DataError, router, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from . import control
from .console import params
from .console import views as console_admin  # noqa: F401 (registers the console, admin:jobs_console)
from .engine.api import READY_STATES, Crontab, send_task
from .engine.api import app as engine_app
from .models import (
    BeatVersion,
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    TaskResult,
    default_timezone,
    json_value,
)


class AddressChecked(admin.ModelAdmin):
    """A list whose address holds what the database cannot be asked (a NUL: PostgreSQL's text and JSON
    cannot hold one; an id past a 64-bit integer, which SQLite cannot bind) answers 400 saying so, as
    the console's pages do (console/params.py), not 500. Django's admin reads any parameter of a
    list's address as a filter on the model's fields, so the check is on every parameter."""

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        if request.method not in ("GET", "HEAD"):
            return super().changelist_view(request, extra_context)
        try:
            for name, values in request.GET.lists():
                for value in (name, *values):
                    params.checked(name, value)
            # A savepoint: on PostgreSQL a refused query would leave an outer transaction unusable.
            with transaction.atomic(using=router.db_for_read(self.model)):
                response = super().changelist_view(request, extra_context)
                if isinstance(response, TemplateResponse):
                    response.render()  # its queries run here, inside the savepoint, not after
        except params.BadParameter as exc:
            return HttpResponseBadRequest(f"{exc}\n", content_type="text/plain; charset=utf-8")
        except (OverflowError, DataError) as exc:
            return HttpResponseBadRequest(f"a filter in this address cannot be used: {exc}\n",
                                          content_type="text/plain; charset=utf-8")
        return response

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        """None (the admin's "does not exist") for an id no row can have: past a 64-bit integer, which
        SQLite cannot bind for a schedule's id (a link to its base row, which Django does not range-check).
        An empty ?_to_field= is no field (Django reads it as a field named "": a 500)."""
        try:
            return super().get_object(request, object_id, from_field or None)
        except OverflowError:
            return None


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
                  "expires", "one_off", "start_time", "catch_up", "description"]
        widgets = {"task": TaskNameWidget(attrs={"size": 60}),
                   "args": forms.Textarea(attrs={"rows": 2, "cols": 60}),
                   "kwargs": forms.Textarea(attrs={"rows": 3, "cols": 60})}

    def clean_args(self) -> Any:
        return self._json("args", list)

    def clean_kwargs(self) -> Any:
        return self._json("kwargs", dict)

    def _json(self, field: str, kind: type) -> Any:
        """The field's JSON as the model checks it (json_value): a list or an object, and nothing JSON
        cannot carry. Django's form field reads NaN and Infinity (Python's json does), which the
        database then refuses: an error page, not a form error, without this."""
        value = self.cleaned_data.get(field)
        try:
            return json_value(value, kind, field)
        except ValidationError as exc:
            raise forms.ValidationError(exc.message_dict[field]) from exc


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
            zone = schedule.timezone if isinstance(schedule, Crontab) else default_timezone()
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


#: How each status shows in the history's list.
STATUS_COLOURS = {"SUCCESS": "#1a7f37", "FAILURE": "#cf222e", "REJECTED": "#cf222e", "REVOKED": "#6e7781",
                  "RETRY": "#9a6700", "STARTED": "#0969da"}


def _pretty(text: str | None) -> str:
    """JSON text, indented for reading (escaped by the template, as all values are)."""
    if text is None:
        return "—"
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        return text


@admin.register(TaskResult)
class TaskResultAdmin(AddressChecked):
    """The history: read-only; "run again" and "revoke" are rights of their own (Meta.permissions)."""

    list_display = ["task_id", "name", "status_badge", "queue", "worker", "retries", "date_done", "runtime_text"]
    list_filter = ["status", "name", "queue", "worker", ("date_done", admin.DateFieldListFilter)]
    search_fields = ["=task_id", "name", "args", "kwargs"]
    date_hierarchy = "date_done"
    list_per_page = 50
    show_full_result_count = False  # a COUNT(*) of a large history on every page is what makes it slow
    actions = ["run_again", "revoke", "revoke_terminate"]
    fields = ["task_id", "name", "status_badge", "args_text", "kwargs_text", "args_complete", "result_text",
              "traceback_text", "queue", "worker", "retries", "date_enqueued", "date_started", "date_done",
              "runtime_text", "parent_link", "children_link"]
    readonly_fields = fields
    change_form_template = "admin/jobs/taskresult/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # rows go by age (HISTORY_KEEP, `manage.py jobs prune`), not by hand

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: TaskResult) -> str:
        colour = STATUS_COLOURS.get(obj.status, "#8250df")  # a custom state (update_state)
        return format_html('<strong style="color: {}">{}</strong>', colour, obj.status)

    @admin.display(description="runtime", ordering="runtime")
    def runtime_text(self, obj: TaskResult) -> str:
        if obj.runtime is None:
            return "—"
        return f"{obj.runtime * 1000:.1f} ms" if obj.runtime < 1 else f"{obj.runtime:.2f} s"

    @admin.display(description="args")
    def args_text(self, obj: TaskResult) -> str:
        return format_html("<pre>{}</pre>", _pretty(obj.args))

    @admin.display(description="kwargs")
    def kwargs_text(self, obj: TaskResult) -> str:
        return format_html("<pre>{}</pre>", _pretty(obj.kwargs))

    @admin.display(description="result")
    def result_text(self, obj: TaskResult) -> str:
        return format_html("<pre>{}</pre>", _pretty(obj.result))

    @admin.display(description="traceback")
    def traceback_text(self, obj: TaskResult) -> str:
        return format_html("<pre>{}</pre>", obj.traceback) if obj.traceback else "—"

    @admin.display(description="parent")
    def parent_link(self, obj: TaskResult) -> str:
        if not obj.parent_id:
            return "—"
        parent = TaskResult.objects.filter(task_id=obj.parent_id).values_list("pk", flat=True).first()
        if parent is None:
            return obj.parent_id  # a chord's id, or a task no longer (or not yet) in the history
        return format_html('<a href="{}">{}</a>', reverse("admin:jobs_taskresult_change", args=[parent]),
                           obj.parent_id)

    @admin.display(description="sent by it")
    def children_link(self, obj: TaskResult) -> str:
        count = TaskResult.objects.filter(parent_id=obj.task_id).count()
        if not count:
            return "—"
        url = reverse("admin:jobs_taskresult_changelist") + "?" + urlencode({"parent_id": obj.task_id})
        return format_html('<a href="{}">{} task(s)</a>', url, count)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> Any:
        # The detail page's buttons post the changelist's own actions (CSRF and permissions as there).
        row = self.get_object(request, object_id)
        ended = row is None or row.status in READY_STATES or row.status == "REJECTED"
        context = {**(extra_context or {}),
                   "can_rerun": self.has_rerun_permission(request) and row is not None and row.args_complete,
                   "can_revoke": self.has_revoke_permission(request) and not ended}
        return super().change_view(request, object_id, form_url, context)

    def has_rerun_permission(self, request: HttpRequest) -> bool:
        """Running a recorded task again sends it with its arguments: a right apart from reading."""
        return request.user.has_perm(f"{self.opts.app_label}.rerun_taskresult")

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.revoke_taskresult")

    @admin.action(description="Run selected tasks again (same arguments; a new task linked to the old)",
                  permissions=["rerun"])
    def run_again(self, request: HttpRequest, queryset: QuerySet[TaskResult]) -> None:
        sent = []
        for row in queryset:
            if not row.args_complete:
                self.message_user(request, f"{row.name}[{row.task_id}]: not sent: its arguments are stored redacted "
                                           "or cut (JOBS['REDACT'], STORED_ARGS_MAX), so they are not its arguments.",
                                  level=messages.ERROR)
                continue
            try:
                result = control.send_again(row)
            except Exception as exc:  # Redis away, a row written by hand: said, never a 500
                self.message_user(request, f"{row.name}[{row.task_id}]: not sent: {type(exc).__name__}: {exc}",
                                  level=messages.ERROR)
                continue
            sent.append(f"{row.name} ({result.id})")
        if sent:
            self.message_user(request, f"Sent again: {', '.join(sent)}. Each new task names the old one as its "
                                       "parent.")

    @admin.action(description="Revoke selected tasks (not run if they have not started)", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[TaskResult]) -> None:
        self._revoke(request, queryset, terminate=False)

    @admin.action(description="Revoke and terminate selected tasks (stopped if running)", permissions=["revoke"])
    def revoke_terminate(self, request: HttpRequest, queryset: QuerySet[TaskResult]) -> None:
        self._revoke(request, queryset, terminate=True)

    def _revoke(self, request: HttpRequest, queryset: QuerySet[TaskResult], terminate: bool) -> None:
        ended = [row for row in queryset if row.status in READY_STATES or row.status == "REJECTED"]
        ids = [row.task_id for row in queryset if row not in ended]
        if ended:
            self.message_user(request, f"{len(ended)} task(s) had ended already; nothing to revoke: "
                                       f"{', '.join(r.task_id for r in ended[:10])}", level=messages.WARNING)
        if not ids:
            return
        try:
            engine_app.current().broker.controls.revoke(ids, terminate)
        except Exception as exc:
            self.message_user(request, f"Not revoked: {type(exc).__name__}: {exc}", level=messages.ERROR)
            return
        what = "revoked and will be stopped within about a second if running" if terminate else \
            "revoked: not run if they have not started"
        self.message_user(request, f"{len(ids)} task(s) {what}.")
