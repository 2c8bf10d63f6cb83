"""The console's pages and actions, mounted in the admin at jobs/console/ (admin:jobs_console).

Rights, checked on every page, fragment and action: the admin's login (active staff: anyone else is
sent to the login page), then "jobs.view_console" to look (403 without), and
"jobs.operate_console" to act (each action's right is in its row of actions.py, the table every
action is done from). An action is a POST with Django's CSRF token, refused unless it comes
from this site's own pages (Origin and Sec-Fetch-Site), and written to the admin's history
(LogEntry) with who did it; a GET never changes anything. What empties or deletes asks first, on a
page that says how many.

"Run all" and "Delete all" of the scheduled page act on the whole set, however large, in batches
(control.sweep_scheduled): each request does SWEEP_SECONDS' worth, writes it to the history, and,
if some are left, answers with a page that shows how far it got and goes on by itself (console.js
submits its form; without scripts, a button does). Stopping there leaves the rest scheduled, and
the page says how many."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache

from .. import control
from ..engine.api import TRANSIENT, JobsError, current
from ..engine.api import redact_url as redact
from ..models import Console
from . import params
from .actions import ACTIONS as ACTIONS
from .actions import Action, due_times, sweep_of, sweep_said
from .headers import secured

# pages.py (what each page reads, and through it the engine's views of Redis, engine/ops) is imported by
# the view that needs it: Django imports this module into every process of a project with the admin,
# a worker's too, which never shows a page.

#: How long one request of a "run all" / "delete all" goes on before it shows its progress.
SWEEP_SECONDS = 2.0

#: The console's pages, in the order of its tabs: (url name suffix, label).
TABS = (("", "Overview"), ("queues", "Queues"), ("workers", "Workers"), ("running", "Running"),
        ("scheduled", "Scheduled"), ("tasks", "Tasks"), ("dead", "Dead letters"), ("metrics", "Metrics"),
        ("periodic", "Periodic"))

if TYPE_CHECKING:  # django-stubs makes ModelAdmin generic; at run time it takes no parameter
    ModelAdmin = admin.ModelAdmin[Console]
else:
    ModelAdmin = admin.ModelAdmin


class ConsoleAdmin(ModelAdmin):
    """No model pages: the console's own (get_urls), listed in the admin's index as "Console"."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff and request.user.has_perm("jobs.view_console"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def can_operate(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request) and request.user.has_perm("jobs.operate_console")

    def get_urls(self) -> list[URLPattern]:
        def view(fn: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
            # staff login, or the login page; every answer with the console's headers (headers.py)
            return secured(self.admin_site.admin_view(never_cache(fn)))

        return [
            path("", view(self.overview), name="jobs_console"),
            path("", view(self.overview), name="jobs_console_changelist"),  # the admin index links here
            path("queues/", view(self.queues), name="jobs_console_queues"),
            path("workers/", view(self.workers), name="jobs_console_workers"),
            path("running/", view(self.running), name="jobs_console_running"),
            path("scheduled/", view(self.scheduled), name="jobs_console_scheduled"),
            path("tasks/", view(self.tasks), name="jobs_console_tasks"),
            path("tasks/<str:task_id>/", view(self.task), name="jobs_console_task"),
            path("dead/", view(self.dead), name="jobs_console_dead"),
            path("dead/<str:dead_id>/", view(self.dead_letter), name="jobs_console_dead_letter"),
            path("metrics/", view(self.metrics), name="jobs_console_metrics"),
            path("metrics/<str:task_name>/", view(self.metric), name="jobs_console_metric"),
            path("periodic/", view(self.periodic), name="jobs_console_periodic"),
            path("act/", view(self.act), name="jobs_console_act"),
        ]

    # -- pages -------------------------------------------------------------------------------------

    def _page(self, request: HttpRequest, name: str, title: str, read: Callable[[], dict[str, Any]]) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
        if not self.has_view_permission(request):
            raise PermissionDenied("viewing the console needs the right jobs.view_console")
        try:
            context = read()  # parses the page's parameters first (params.py)
        except params.BadParameter as exc:
            return HttpResponseBadRequest(f"{exc}\n", content_type="text/plain; charset=utf-8")
        except TRANSIENT as exc:
            context = {"redis_error": f"Redis at {redact(current().config.broker_url)} cannot be read: {exc}"}
        # The pager's page number, which a list's read() returns as "page": "page" is also the page's
        # name (the tabs), set below, which would hide it (the pager of Scheduled and Dead letters
        # showed "page " with no number and linked to ?page=).
        context.setdefault("pager_page", context.pop("page", 0))
        fragment = params.flag(request.GET, "fragment")
        context.update(self.admin_site.each_context(request) if not fragment else {},
                       title=title, page=name, tabs=TABS, can_operate=self.can_operate(request),
                       opts=self.model._meta, here=params.page_url(request), live_url=params.fragment_url(request),
                       pager_query=params.pager_query(request))
        template = f"admin/jobs/console/{name}.html"
        if fragment:  # the live part alone, for console.js to swap in
            return TemplateResponse(request, template, {**context, "fragment": True})
        return TemplateResponse(request, template, context)

    def overview(self, request: HttpRequest) -> HttpResponse:
        from . import pages

        return self._page(request, "overview", "Console", pages.overview)

    def queues(self, request: HttpRequest) -> HttpResponse:
        from . import pages

        return self._page(request, "queues", "Queues", pages.queues)

    def workers(self, request: HttpRequest) -> HttpResponse:
        from . import pages

        return self._page(request, "workers", "Workers", pages.workers)

    def running(self, request: HttpRequest) -> HttpResponse:
        from . import pages

        return self._page(request, "running", "Running tasks", pages.running)

    def scheduled(self, request: HttpRequest) -> HttpResponse:
        from . import pages

        return self._page(request, "scheduled", "Scheduled tasks",
                          lambda: pages.scheduled(params.integer(request.GET, "page", 0, 0, pages.MAX_PAGE)))

    def tasks(self, request: HttpRequest) -> HttpResponse:
        from . import pages

        return self._page(request, "tasks", "Tasks", lambda: pages.tasks(pages.Search.of(request.GET)))

    def task(self, request: HttpRequest, task_id: str) -> HttpResponse:
        from . import pages

        return self._page(request, "task", f"Task {task_id}", lambda: pages.task(params.checked("task id", task_id)))

    def dead(self, request: HttpRequest) -> HttpResponse:
        from . import pages

        return self._page(request, "dead", "Dead letters", lambda: pages.dead(
            params.text(request.GET, "reason"), params.text(request.GET, "task"),
            params.integer(request.GET, "page", 0, 0, pages.MAX_PAGE)))

    def dead_letter(self, request: HttpRequest, dead_id: str) -> HttpResponse:
        from . import pages

        return self._page(request, "dead_letter", f"Dead letter {dead_id}",
                          lambda: pages.dead_letter(params.checked("dead letter id", dead_id)))

    def metrics(self, request: HttpRequest) -> HttpResponse:
        from . import pages

        return self._page(request, "metrics", "Metrics per task",
                          lambda: pages.metrics(params.integer(request.GET, "minutes", 60, 5, 1440)))

    def metric(self, request: HttpRequest, task_name: str) -> HttpResponse:
        from . import pages

        return self._page(request, "metric", task_name, lambda: pages.metric(
            params.checked("task name", task_name), params.integer(request.GET, "minutes", 60, 5, 1440)))

    def periodic(self, request: HttpRequest) -> HttpResponse:
        from . import pages

        return self._page(request, "periodic", "Periodic tasks", pages.periodic)

    # -- actions -----------------------------------------------------------------------------------

    def act(self, request: HttpRequest) -> HttpResponse:
        """Every change the console makes: POST, CSRF (the middleware), same origin, the right to
        operate; then a confirm page for what deletes or stops, then the action, logged."""
        if request.method != "POST":
            return HttpResponse("actions are POST only", status=405, headers={"Allow": "POST"})
        if not self.can_operate(request):
            raise PermissionDenied("acting from the console needs the right jobs.operate_console")
        if not _same_origin(request):
            raise PermissionDenied("this action did not come from this site's own pages")
        name = request.POST.get("action", "")
        targets = [t for t in request.POST.getlist("target") if t]
        back = _back(request)
        action = ACTIONS.get(name)
        if action is None:
            messages.error(request, f"Unknown action {name!r}.")
            return HttpResponseRedirect(back)
        if not request.user.has_perm(action.permission):
            raise PermissionDenied(f"{name} needs the right {action.permission}")
        if action.do is None:
            return self._sweep(request, name, action, back)
        if not targets:
            messages.warning(request, "Nothing was selected.")
            return HttpResponseRedirect(back)
        due = {t: request.POST[f"due_{t}"] for t in targets if f"due_{t}" in request.POST}
        if action.asks and request.POST.get("confirmed") != "1":
            return TemplateResponse(request, "admin/jobs/console/confirm.html", {
                **self.admin_site.each_context(request), "title": "Are you sure?", "opts": self.model._meta,
                "action": name, "targets": targets, "what": action.what, "verb": action.verb, "back": back,
                "tabs": TABS, "page": "confirm", "counts": action.counts(targets) if action.counts else {},
                "due": due})
        try:
            said = action.do(targets, due_times(due))
        except (JobsError, ValueError) as exc:
            messages.error(request, f"{action.verb} {action.what}: not done: {exc}")
            return HttpResponseRedirect(back)
        except TRANSIENT as exc:
            messages.error(request, f"{action.verb} {action.what}: not done, Redis did not answer: {exc}")
            return HttpResponseRedirect(back)
        _log(request, name, targets, said)
        messages.success(request, said)
        return HttpResponseRedirect(back)

    def _sweep(self, request: HttpRequest, name: str, action: Action, back: str) -> HttpResponse:
        """Run or delete every scheduled message: asked first (how many), then SWEEP_SECONDS of
        batches a request, each written to the history, until none of those counted is left."""
        verb = action.verb
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "action": name,
                   "what": action.what, "verb": verb, "back": back, "tabs": TABS}
        try:
            if request.POST.get("confirmed") != "1":
                total, upto = control.monitor().scheduled_extent()
                if not total:
                    messages.warning(request, "Nothing is scheduled.")
                    return HttpResponseRedirect(back)
                return TemplateResponse(request, "admin/jobs/console/confirm.html", {
                    **context, "title": "Are you sure?", "page": "confirm",
                    "sweep": control.Sweep(action.sweep, upto, total)})
            sweep = control.sweep_scheduled(action.sweep, sweep_of(request.POST, action.sweep), SWEEP_SECONDS)
            left = control.monitor().scheduled_count()
        except (JobsError, ValueError) as exc:
            messages.error(request, f"{verb}, all scheduled tasks: not done: {exc}")
            return HttpResponseRedirect(back)
        except TRANSIENT as exc:
            messages.error(request, f"{verb}, all scheduled tasks: stopped, Redis did not answer: {exc}")
            return HttpResponseRedirect(back)
        said = sweep_said(sweep, left)
        _log(request, name, ["all"], said)
        if sweep.finished:
            messages.success(request, said)
            return HttpResponseRedirect(back)
        return TemplateResponse(request, "admin/jobs/console/progress.html", {
            **context, "title": "Working…", "page": "progress", "sweep": sweep, "said": said,
            "not_reached": sweep.total - sweep.taken})


def _same_origin(request: HttpRequest) -> bool:
    """Sent by a page of this site: a browser says so in Sec-Fetch-Site and Origin (a client that
    sends neither has passed the CSRF check, which needs the token from one of our pages). Behind a
    proxy that ends TLS, the scheme is the one Django sees (SECURE_PROXY_SSL_HEADER), and an origin
    listed in CSRF_TRUSTED_ORIGINS is this site's too, as for Django's CSRF check."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site != "same-origin":
        return False
    origin = request.headers.get("Origin")
    return (origin is None or origin == f"{request.scheme}://{request.get_host()}"
            or origin in getattr(settings, "CSRF_TRUSTED_ORIGINS", ()))


def _back(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse("admin:jobs_console")


def _log(request: HttpRequest, action: str, targets: list[str], said: str) -> None:
    """The admin's history: who did what to which, from the console."""
    kind = ContentType.objects.get_for_model(Console, for_concrete_model=False)
    user_id = request.user.pk
    assert user_id is not None  # only active staff get here (admin_view, can_operate)
    LogEntry.objects.create(user_id=user_id, content_type=kind, object_id=",".join(targets)[:255],
                            object_repr=f"console: {action} {', '.join(targets)}"[:200], action_flag=CHANGE,
                            change_message=said[:2000])


admin.site.register(Console, ConsoleAdmin)
