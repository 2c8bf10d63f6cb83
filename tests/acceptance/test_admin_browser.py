"""The admin of periodic tasks and of the task history in a real browser (Debian's Chromium, driven by
Playwright), against the example project served by `manage.py runserver` in its own process, and a
real worker, as a user runs them.

Without Chromium the test is skipped, saying how to install it; CI sets JOBS_TEST_REQUIRE_BROWSER so
that there it fails instead. With JOBS_SCREENSHOTS_DIR set (`make screenshots`), the pages are also
saved as the PNGs that docs/periodic.md and docs/results.md show, so the documentation pictures are the pages this test
checked.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from jobs.engine.redis.keys import Keys
from tests.conftest import ROOT

CHROMIUM = os.environ.get("JOBS_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = os.environ.get("JOBS_SCREENSHOTS_DIR")
PASSWORD = "browser-test-password"

# The admin user, and the two periodic tasks a user of the example project has: one from the
# settings (synced as runbeat syncs it) and one made as `make demo` makes it.
SET_UP = f"""
from django.conf import settings
from django.contrib.auth.models import User
from jobs.stores.schedules_db import sync_settings
User.objects.create_superuser("admin", "admin@example.com", {PASSWORD!r})
sync_settings(settings.JOBS["BEAT_SCHEDULE"])
""" + (ROOT / "scripts" / "demo.py").read_text().split('MORNING_REPORT = """', 1)[1].split('"""', 1)[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test extra has it)")
    if not os.access(CHROMIUM, os.X_OK):
        missing = pytest.fail if os.environ.get("JOBS_TEST_REQUIRE_BROWSER") else pytest.skip
        missing(f"no Chromium at {CHROMIUM}: install Debian's (apt-get install chromium) or set "
                "JOBS_TEST_CHROMIUM to a Chromium binary")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def example_env(tmp_path: Path) -> dict[str, str]:
    """The example project's settings on a fresh database: for its web server and its worker."""
    return {"DJANGO_SETTINGS_MODULE": "example_project.settings", "EXAMPLE_DB_PATH": str(tmp_path / "db.sqlite3"),
            "EXAMPLE_EMAIL_DIR": str(tmp_path / "mail"), "TZ": "UTC"}


@pytest.fixture
def site(example_env: dict[str, str], r: redis.Redis) -> Iterator[str]:
    """The example project on a fresh database, served on a free port; its address."""
    env = {**os.environ, **example_env}
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120)
    subprocess.run([*manage, "shell", "-v", "0", "-c", SET_UP], cwd=ROOT, env=env, check=True, timeout=60)
    port = free_port()
    server = subprocess.Popen([*manage, "runserver", f"127.0.0.1:{port}", "--noreload"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        # runserver says it started before it listens: wait for the login page itself to answer.
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/admin/login/", timeout=5).close()
                break
            except (urllib.error.URLError, ConnectionError) as exc:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"runserver did not answer: {exc}\n{server.stderr.read()}") from exc
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(20)


def shoot(page: Any, name: str, **options: Any) -> None:
    if SCREENSHOTS:
        page.evaluate("window.scrollTo(0, 0)")
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / name), **options)


def test_periodic_tasks_in_the_admin(browser: Any, site: str, r: redis.Redis) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 520})
    page.goto(f"{site}/admin/login/?next=/admin/jobs/periodictask/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")

    # The list: the schedule in words, the next run in the schedule's own time zone.
    page.wait_for_selector("#result_list")
    page.click("#toggle-nav-sidebar")  # room for the columns (the admin remembers it for the form too)
    morning = page.locator("#result_list tr", has_text="morning sales report")
    assert "At 08:00" in morning.inner_text() and "Europe/Berlin" in morning.inner_text()
    assert "CET" in morning.locator("td.field-next_run").inner_text()  # Berlin time in November
    counting = page.locator("#result_list tr", has_text="count recent orders")
    assert "every minute" in counting.inner_text()
    shoot(page, "periodic-tasks-list.png")

    # Run now: the task is on its queue at once, and the list says so.
    counting.locator("input.action-select").check()
    page.select_option("select[name=action]", "run_now")
    page.click("button[name=index]")
    page.wait_for_selector("ul.messagelist")
    assert "Sent now: count recent orders" in page.inner_text("ul.messagelist")
    assert r.zcard(Keys("jobs").queue("default")) == 1

    # The form: the task field offers the registered names; args must be a JSON list.
    page.click("text=morning sales report")
    page.wait_for_selector("#id_task")
    options = page.eval_on_selector_all("datalist option", "nodes => nodes.map(n => n.value)")
    assert "shop.send_order_email" in options and "shop.count_recent_orders" in options
    page.set_viewport_size({"width": 1100, "height": 900})
    shoot(page, "periodic-task-form.png", full_page=True)
    page.fill("#id_args", '{"days": 7}')
    page.click("input[name=_save]")
    page.wait_for_selector(".errorlist")
    assert "JSON list" in page.inner_text(".field-args .errorlist")

    # A crontab field cron would not take is an error on that field, saying what is allowed.
    page.goto(f"{site}/admin/jobs/crontabschedule/add/")
    page.fill("#id_minute", "0")
    page.fill("#id_hour", "24")
    page.click("input[name=_save]")
    page.wait_for_selector(".errorlist")
    error = page.inner_text(".field-hour .errorlist")
    assert "'24' is not valid" in error and "0-23" in error


#: Tasks of the example project, sent as its web process sends them.
SEND = """
from example_project.shop import tasks
tasks.add.delay(2, 3)
tasks.flaky.delay(1)
tasks.send_order_email.delay(404)  # no such order: fails, with the traceback to read
"""


def login(page: Any, site: str, next_url: str) -> None:
    page.goto(f"{site}/admin/login/?next={next_url}")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")


def test_the_task_history_in_the_admin(browser: Any, site: str, example_env: dict[str, str], start_worker: Any,
                                       r: redis.Redis) -> None:
    start_worker("-Q", "emails,default", "-c", "2", env=example_env)
    subprocess.run([sys.executable, "manage.py", "shell", "-v", "0", "-c", SEND], cwd=ROOT,
                   env={**os.environ, **example_env}, check=True, timeout=60)
    page = browser.new_page(viewport={"width": 1400, "height": 560})
    login(page, site, "/admin/jobs/taskresult/")

    # The worker records the outcomes about a second after they happen: the page, reloaded as a user
    # would, shows them once they are in.
    deadline = time.monotonic() + 30
    while page.locator("#result_list tbody tr").count() < 3:
        assert time.monotonic() < deadline, page.inner_text("body")
        page.wait_for_timeout(300)  # the user's reload, not a synchronisation
        page.reload()
    page.click("#toggle-nav-sidebar")
    listing = page.inner_text("#result_list")
    assert "example_project.shop.tasks.add" in listing and "shop.send_order_email" in listing
    assert listing.count("FAILURE") == 2 and listing.count("SUCCESS") == 1
    shoot(page, "task-results-list.png")

    # Filtered by status, then one failure's page: arguments, result, traceback, and its actions.
    page.click("#changelist-filter a:text-is('FAILURE')")
    page.wait_for_selector("#result_list")
    assert "SUCCESS" not in page.inner_text("#result_list")
    page.locator("#result_list tr", has_text="shop.send_order_email").locator("th a").click()
    page.wait_for_selector(".field-traceback_text")
    assert "DoesNotExist" in page.inner_text(".field-traceback_text")
    assert "404" in page.inner_text(".field-args_text")
    page.set_viewport_size({"width": 1100, "height": 900})
    shoot(page, "task-result-detail.png", full_page=True)

    # Run again: a new task with the same arguments, recorded with the old one as its parent.
    old_id = page.inner_text(".field-task_id .readonly")
    page.click("form.jobs-action button:has-text('Run again')")
    page.wait_for_selector("ul.messagelist")
    assert "Sent again: shop.send_order_email" in page.inner_text("ul.messagelist")
    deadline = time.monotonic() + 30
    while True:
        page.goto(f"{site}/admin/jobs/taskresult/?parent_id={old_id}")
        if page.locator("#result_list tbody tr").count() == 1:
            break
        assert time.monotonic() < deadline, page.inner_text("body")
        page.wait_for_timeout(300)
    assert "FAILURE" in page.inner_text("#result_list")
