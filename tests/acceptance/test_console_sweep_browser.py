"""The console's "Run all now" in a real browser (Chromium): its progress page goes on by itself,
console.js submitting each page's form, until every scheduled message is sent; "Stop here" stops it
and the rest stay scheduled. Chromium talks to the console's real views through Django's test
client (page.route), so they run in this process with one small batch a request, and every page
between the confirmation and the end is one the user would see."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.test import Client

from jobs import control
from jobs.console import views as console_admin
from jobs.engine.setup import app as engine_app
from tests.acceptance.test_admin_browser import browser  # noqa: F401 (fixture)
from tests.acceptance.test_console_browser import refusals
from tests.testapp import tasks

#: Transactional: once Playwright's event loop runs in this thread, Django's per-context connections
#: give the calls made here a connection of their own, outside a test's transaction (seen: not in an
#: atomic block); so the tables are emptied after each test instead.
pytestmark = pytest.mark.django_db(transaction=True)
SITE = "http://testserver"
PASSED = ("Content-Type", "Content-Security-Policy")


def served(client: Client, posts: list[dict[str, list[str]]]) -> Any:
    """A page.route handler: static files (/static/) from the finders, everything else from the views."""

    def serve(route: Any, request: Any) -> None:
        url = urlsplit(request.url)
        if url.path.startswith("/static/"):
            found = finders.find(url.path[len("/static/"):])
            kind = "text/css" if url.path.endswith(".css") else "text/javascript"
            route.fulfill(status=200 if found else 404, body=Path(found).read_bytes() if found else b"",
                          headers={"Content-Type": kind})
            return
        if request.method == "POST":
            posts.append(parse_qs(request.post_data or ""))
            response = client.post(url.path, data=request.post_data or "",
                                   content_type="application/x-www-form-urlencoded")
        else:
            response = client.get(f"{url.path}?{url.query}" if url.query else url.path)
        if response.status_code in (301, 302):
            route.fulfill(status=302, headers={"Location": response["Location"]})
        else:
            route.fulfill(status=response.status_code, body=response.content,  # under the console's policy too
                          headers={k: v for k, v in response.headers.items() if k in PASSED})

    return serve


@pytest.fixture(scope="module", autouse=True)
def sync_database_calls_beside_playwright() -> Iterator[None]:
    """Playwright's sync API keeps an event loop in this thread while the browser is open, so Django
    takes every database call here for one made from async code. They are plain synchronous calls,
    made one at a time (the route handler's, and the test's rollback after the page closes)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture
def console(browser: Any, monkeypatch: Any, settings: Any) -> Any:  # noqa: F811
    settings.STATIC_URL = "/static/"  # the test settings serve none: the pages' CSS and console.js, here
    monkeypatch.setattr(console_admin, "SWEEP_SECONDS", 0)  # one batch a request
    monkeypatch.setattr(control, "SWEEP_BATCH", 2)
    client = Client()
    client.force_login(User.objects.create_superuser("ops", password="pw"))
    posts: list[dict[str, list[str]]] = []
    page = browser.new_page()
    refused = refusals(page)
    page.route(f"{SITE}/**", served(client, posts))
    page.goto(f"{SITE}/admin/jobs/console/scheduled/")
    yield page, posts
    page.close()
    assert refused == []  # console.js went on under the console's Content-Security-Policy


def test_run_all_goes_on_by_itself_to_the_end(console: Any, r: Any) -> None:
    page, posts = console
    for i in range(7):
        tasks.add.apply_async((i, i), countdown=600)
    page.reload()
    page.click("button:has-text('Run all now')")
    page.wait_for_selector(".jobs-confirm")
    assert "Run now: all 7 scheduled tasks?" in page.inner_text(".jobs-confirm h2")
    page.click("#jobs-confirm")
    page.wait_for_selector("ul.messagelist", timeout=20000)  # after the progress pages, by themselves
    assert "7 scheduled task(s) sent to their queues now, of the 7 counted" in page.inner_text("ul.messagelist")
    assert [p["taken"] for p in posts if "taken" in p] == [["2"], ["4"], ["6"]]  # console.js posted each page on
    broker = engine_app.current().broker
    assert broker.scheduled.count() == 0 and broker.controls.queue_length("default") == 7


def test_stop_here_stops_it_and_the_rest_stay_scheduled(console: Any, r: Any) -> None:
    page, posts = console
    for i in range(7):
        tasks.add.apply_async((i, i), countdown=600)
    page.clock.install()
    page.clock.pause_at(time.time() + 1)  # the pages' timers wait for the test: the click surely comes first
    page.reload()
    page.click("button:has-text('Delete all')")
    page.wait_for_selector(".jobs-confirm")
    page.click("#jobs-confirm")
    page.wait_for_selector("#jobs-stop")
    assert "the 5 not reached yet" in page.inner_text(".jobs-progress")
    page.click("#jobs-stop")
    page.wait_for_url(f"{SITE}/admin/jobs/console/scheduled/")
    page.clock.run_for(5000)
    assert len(posts) == 2  # "Delete all…" and "Yes": nothing after "Stop here"
    assert engine_app.current().broker.scheduled.count() == 5
    assert "5 message(s) wait for their time" in page.inner_text("#content")
