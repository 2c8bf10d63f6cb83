"""Every parameter of every console page, and of jobs' admin pages and probes, with odd values: never a
500 (issue 31, break 5). The pages are enumerated from the URLconf and the parameters from what each
view reads when it answers (a recording QueryDict), so a page or a parameter added later is fuzzed
without editing this file. Run on SQLite and on PostgreSQL (JOBS_TEST_DATABASE_URL), whose text
cannot hold a NUL and whose OFFSET cannot exceed a bigint."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.http import QueryDict
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from jobs.console import params
from jobs.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, TaskResult
from tests.testapp import tasks

pytestmark = pytest.mark.django_db

#: Unicode digits int() refuses (²) or reads (٣, １); signs; huge, negative, empty; NUL; long; odd text.
ODD = ["²", "٣", "１", "-1", "+5", "", "0", "99999999", "99999999999999999999", "-99999999999999999999",
       "9" * 5000, "1e9", "1_000", "1.5", "NaN", "\x00", "abc\x00", "%00", "x" * 5000, "\u202e\U0001F600",
       "<script>'\\", "\n", "a/b", "t-1"]

#: For the admin lists' filters on their model's fields (Django's admin reads them, not our code).
FEWER = ["²", "99999999999999999999", "-99999999999999999999", "9" * 5000, "\x00", "abc\x00", "x" * 5000, "NaN"]


def routes() -> Iterator[tuple[str, str, list[str]]]:
    """(namespace:name, route, its path parameters) of the console's pages, jobs' admin lists, add and
    change pages (the pages jobs' admin.py shapes; its delete and history pages are Django's own), and
    jobs.urls: from the URLconf, as it is."""

    def walk(patterns, prefix: str, namespace: str):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern),
                                pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and pattern.name and isinstance(pattern.pattern, RoutePattern):
                if ((namespace == "admin" and pattern.name.startswith("jobs_console")) or namespace == "jobs"
                        or (namespace == "admin" and re.fullmatch(r"jobs_\w+_(changelist|change|add)", pattern.name))):
                    yield f"{namespace}:{pattern.name}", prefix + str(pattern.pattern), \
                        list(pattern.pattern.converters)

    seen = set()
    for name, route, converters in walk(get_resolver().url_patterns, "/", ""):
        if route not in seen:
            seen.add(route)
            yield name, route, converters


def url(route: str, **values: str) -> str:
    from urllib.parse import quote

    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: quote(values.get(m.group(1), "1"), safe=""), route)


class Recording(QueryDict):
    """request.GET that notes which parameters the view asked for."""

    asked: set[str] = set()

    def get(self, key, default=None):
        Recording.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        Recording.asked.add(key)
        return super().__getitem__(key)

    def getlist(self, key, default=None):
        Recording.asked.add(key)
        return super().getlist(key, default)

    def __contains__(self, key):
        Recording.asked.add(key)
        return super().__contains__(key)


def parameters_read(client, monkeypatch, path: str, model_fields: list[str]) -> set[str]:
    """The query parameters the view at `path` reads; for an admin list, its model's fields too
    (Django's admin reads any other parameter as a lookup on them)."""
    from django.core.handlers import wsgi

    Recording.asked = set()
    monkeypatch.setattr(wsgi, "QueryDict", Recording)
    try:
        client.get(path)
    finally:
        monkeypatch.undo()
    return Recording.asked | set(model_fields)


def some_rows() -> None:
    TaskResult.objects.create(task_id="t-1", name="tests.testapp.tasks.add", status="SUCCESS", queue="default",
                              worker="w1", args="[1, 2]", kwargs="{}")
    CrontabSchedule.objects.create(minute="0", hour="8", timezone="UTC")
    IntervalSchedule.objects.create(every=5, period="minutes")
    import datetime as dt

    ClockedSchedule.objects.create(clocked_time=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))
    PeriodicTask.objects.create(name="p", task="tests.testapp.tasks.add",
                                schedule=IntervalSchedule.objects.first())


def admin_fields(name: str) -> list[str]:
    """For an admin list (jobs_<model>_changelist), its model's field names."""
    from django.apps import apps

    match = re.fullmatch(r"admin:jobs_(\w+)_changelist", name)
    if not match:
        return []
    model = apps.get_model("jobs", match.group(1))
    return [f.name for f in model._meta.concrete_fields]


def test_the_urlconf_is_walked():
    names = {name for name, _, _ in routes()}
    assert {"admin:jobs_console", "admin:jobs_console_tasks", "admin:jobs_console_task", "admin:jobs_console_metric",
            "admin:jobs_console_dead_letter", "admin:jobs_periodictask_changelist", "jobs:health"} <= names


def answered(response, name: str) -> bool:
    """Not an error of ours: anything below 500; the readiness probe's 503 is its answer (no worker)."""
    return response.status_code < 500 or (name == "jobs:health" and response.status_code == 503)


def test_no_console_or_admin_page_answers_500_to_any_odd_parameter(admin_client, r, monkeypatch):
    some_rows()
    tried = refused = 0
    for name, route, converters in routes():
        plain = url(route)
        for value in ODD:  # each path parameter
            for converter in converters:
                assert answered(admin_client.get(url(route, **{converter: value})), name), (name, converter, value)
                tried += 1
        read = parameters_read(admin_client, monkeypatch, plain, admin_fields(name))
        for parameter in sorted(read):
            for value in ODD if parameter not in admin_fields(name) else FEWER:
                response = admin_client.get(plain, {parameter: value})
                tried += 1
                assert answered(response, name), (name, parameter, value)
                if response.status_code == 400 and name.startswith("admin:jobs_console"):
                    refused += 1
                    assert response.content.decode().startswith(f"{parameter}="), (name, parameter, value)
        for value in ODD:  # every parameter at once
            assert answered(admin_client.get(plain, dict.fromkeys(read, value)), name), (name, value)
    assert tried > 1000 and refused > 0


@pytest.mark.parametrize("query, status, said", [
    ("?page=²", 400, "page='²' is not a whole number: give one from 0 to 100000, in digits 0-9"),
    ("?page=99999999999999999999", 200, ""), ("?page=-3", 200, ""), ("?since=99999999", 200, ""),
    ("?since=²", 400, "since='²'"), ("?q=%00", 400, "q='\\x00' holds a NUL character"),
    ("?args=%00", 400, "args="), ("?worker=%00", 400, "worker="), ("?queue=" + "x" * 1001, 400, "at most 1,000"),
])
def test_the_history_search_clamps_numbers_and_refuses_what_it_cannot_read(admin_client, r, query, status, said):
    response = admin_client.get(f"/admin/jobs/console/tasks/{query}")
    assert response.status_code == status and said in response.content.decode()


def test_a_page_past_the_end_shows_the_last_page_it_can(admin_client, r):
    response = admin_client.get("/admin/jobs/console/tasks/?page=99999999999999999999")
    assert response.context["search"].page == 100_000
    assert admin_client.get("/admin/jobs/console/scheduled/?page=-5").context["pager_page"] == 0
    assert admin_client.get("/admin/jobs/console/metrics/?minutes=99999").context["minutes"] == 1440
    assert admin_client.get("/admin/jobs/console/metrics/?minutes=%C2%B2").status_code == 400
    assert admin_client.get("/admin/jobs/console/dead/?page=%D9%A3").status_code == 400  # int() reads "٣" as 3


def test_the_pager_of_scheduled_and_dead_letters_links_to_the_next_page(admin_client, r):
    """Their page number was hidden by the page's name ("page" in the template): "page " and ?page=."""
    for i in range(51):
        tasks.add.apply_async((i, i), countdown=600)
    first = admin_client.get("/admin/jobs/console/scheduled/").content.decode()
    assert "page 1 " in first and 'href="?page=1"' in first
    second = admin_client.get("/admin/jobs/console/scheduled/?page=1&fragment=1").content.decode()
    assert "page 2 " in second and 'href="?page=0"' in second
    search = admin_client.get("/admin/jobs/console/tasks/?status=SUCCESS&page=2").content.decode()
    assert "page 3 " in search and 'href="?status=SUCCESS&amp;page=1"' in search
    assert 'href="?items=1&amp;page=1"' in admin_client.get("/admin/jobs/console/scheduled/?items=1").content.decode()


def test_an_id_with_a_nul_in_the_path_is_a_400(admin_client, r):
    for path in ("/admin/jobs/console/tasks/abc%00/", "/admin/jobs/console/dead/abc%00/",
                 "/admin/jobs/console/metrics/abc%00/"):
        response = admin_client.get(path)
        assert response.status_code == 400 and "holds a NUL character" in response.content.decode(), path


def test_the_helper():
    q = {"n": " 7 ", "big": "9" * 5000, "neg": "-" + "9" * 30, "uni": "٣"}
    assert params.integer(q, "n", 0, 0, 10) == 7 and params.integer(q, "missing", 4, 0, 10) == 4
    assert params.integer(q, "big", 0, 0, 10) == 10 and params.integer(q, "neg", 0, -5, 10) == -5
    with pytest.raises(params.BadParameter, match="uni='٣' is not a whole number"):
        params.integer(q, "uni", 0, 0, 10)
