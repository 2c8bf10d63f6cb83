"""The periodic-task admin in a real browser (Debian's Chromium, driven by Playwright), against the
example project served by `manage.py runserver` in its own process, as a user runs it.

Without Chromium the test is skipped, saying how to install it; CI sets JOBS_TEST_REQUIRE_BROWSER so
that there it fails instead. With JOBS_SCREENSHOTS_DIR set (`make screenshots`), the pages are also
saved as the PNGs that docs/periodic.md shows, so the documentation pictures are the pages this test
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

from jobs.engine.keys import Keys
from tests.conftest import ROOT

CHROMIUM = os.environ.get("JOBS_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = os.environ.get("JOBS_SCREENSHOTS_DIR")
PASSWORD = "browser-test-password"

# The admin user, and the two periodic tasks a user of the example project has: one from the
# settings (synced as runbeat syncs it) and one made as `make demo` makes it.
SET_UP = f"""
from django.conf import settings
from django.contrib.auth.models import User
from jobs.beat_store import sync_settings
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
def site(tmp_path: Path, r: redis.Redis) -> Iterator[str]:
    """The example project on a fresh database, served on a free port; its address."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "example_project.settings",
           "EXAMPLE_DB_PATH": str(tmp_path / "db.sqlite3"), "EXAMPLE_EMAIL_DIR": str(tmp_path / "mail"),
           "TZ": "UTC"}
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
