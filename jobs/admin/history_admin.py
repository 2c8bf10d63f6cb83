"""The admin of the task history: read-only (the workers write it, HISTORY_KEEP prunes it); running a
recorded task again and revoking one are rights of their own (TaskResult's Meta.permissions).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from .. import control
from ..engine.api import READY_STATES
from ..models import TaskResult
from .address_checked import AddressChecked

#: How each status shows in the history's list.
STATUS_COLOURS = {"SUCCESS": "#1a7f37", "FAILURE": "#cf222e", "REJECTED": "#cf222e", "REVOKED": "#6e7781",
                  "RETRY": "#9a6700", "STARTED": "#0969da"}

#: What a row's page shows, all of it read-only.
SHOWN = ("task_id", "name", "status_badge", "args_text", "kwargs_text", "args_complete", "result_text",
         "traceback_text", "queue", "worker", "retries", "date_enqueued", "date_started", "date_done", "runtime_text",
         "parent_link", "children_link")


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
    fields = SHOWN
    readonly_fields = SHOWN
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
            control.revoke(ids, terminate)
        except Exception as exc:
            self.message_user(request, f"Not revoked: {type(exc).__name__}: {exc}", level=messages.ERROR)
            return
        what = "revoked and will be stopped within about a second if running" if terminate else \
            "revoked: not run if they have not started"
        self.message_user(request, f"{len(ids)} task(s) {what}.")
