"""The operations console in a real browser (Debian's Chromium, driven by Playwright), against the
example project served by `manage.py runserver` and a real worker, as a user runs them: a running
task with its progress, a failed one run again from its page, a queue paused (the worker then skips
it) and resumed, a bulk requeue of dead letters through its confirm page, a purge, a search by
argument, and the figures refreshing by themselves; all of it under the console's
Content-Security-Policy (jobs/console/headers.py), which refuses a script injected into a page.

With JOBS_SCREENSHOTS_DIR set (`make screenshots`), each page is saved, light and dark, as the PNGs
docs/console.md and the README show."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import redis

from jobs.engine.redis.keys import Keys
from tests.acceptance.test_admin_browser import browser, example_env, login, shoot, site  # noqa: F401 (fixtures)
from tests.conftest import ROOT

KEYS = Keys("jobs")

SEND = """
from example_project.shop import tasks
tasks.build_report.apply_async((60,), task_id="report-running")   # 30 s, its progress day by day
tasks.flaky.apply_async((7,), task_id="flaky-failed")              # always fails, with a traceback
for i in range(3):
    tasks.add.apply_async((i, i), queue="reports")                 # no worker consumes "reports"
tasks.add.apply_async((40, 2), countdown=3600, task_id="in-an-hour")
"""


def shell(code: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", "shell", "-v", "0", "-c", code], cwd=ROOT,
                   env={**os.environ, **env}, check=True, timeout=60)


def until(page: Any, check: Any, what: str, seconds: float = 30) -> None:
    """Reload as a user would until `check()` holds (the page's own refresh is tested apart)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what}: {page.inner_text('#content')[:2000]}"
        page.wait_for_timeout(300)  # the user's pause before reloading, not a synchronisation
        page.reload()


def both_themes(page: Any, name: str, **options: Any) -> None:
    shoot(page, f"console-{name}.png", **options)
    if os.environ.get("JOBS_SCREENSHOTS_DIR"):
        page.emulate_media(color_scheme="dark")
        shoot(page, f"console-{name}-dark.png", **options)
        page.emulate_media(color_scheme="light")


def test_the_console_with_live_workers(browser: Any, site: str, example_env: dict[str, str],  # noqa: F811
                                       start_worker: Any, r: redis.Redis) -> None:
    start_worker("-Q", "emails,default", "-c", "2", env=example_env)
    shell(SEND, example_env)
    for garbage in (b"not a message 1", b"not a message 2"):  # dead-lettered by the worker that takes them
        r.zadd(KEYS.queue("default"), {garbage: 0})
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    refused = refusals(page)  # under the console's Content-Security-Policy, nothing of its own is refused
    console = f"{site}/admin/jobs/console/"
    login(page, site, "/admin/jobs/console/")

    # Overview: the counts and the charts; the figures refresh by themselves (every 2 s here).
    page.wait_for_selector(".jobs-cards")
    page.click("#toggle-nav-sidebar")  # room for the tables (the admin remembers it)
    page.select_option("#jobs-refresh", "2")
    # A selector, not wait_for_function: Playwright evaluates that with eval(), which the console's
    # policy refuses (no 'unsafe-eval'); console.js counts its refreshes in data-refreshed.
    page.wait_for_selector("#jobs-live[data-refreshed]", state="attached", timeout=15000)
    assert page.locator(".jobs-chart").count() == 2
    assert "workers alive" in page.inner_text(".jobs-cards")
    both_themes(page, "overview", full_page=True)

    # Running: the report, with its worker and runtime; its page shows its progress.
    page.goto(console + "running/")
    until(page, lambda: "report-running" in page.inner_text("#content"), "the report running")
    assert "example_project.shop.tasks.build_report" in page.inner_text("#content")
    both_themes(page, "running")
    page.goto(console + "tasks/report-running/")
    until(page, lambda: "counting" in page.inner_text("#content"), "the report's progress")

    # Workers: the worker, its counts, and the report it runs.
    page.goto(console + "workers/")
    assert "report-running" in page.inner_text("#content") and "alive" in page.inner_text("#content")
    both_themes(page, "workers", full_page=True)

    # The failed task, found by its argument, run again from its page.
    page.goto(console + "tasks/?args=7&status=FAILURE")
    until(page, lambda: "flaky-failed" in page.inner_text("#content"), "the failure in the history")
    both_themes(page, "tasks")
    page.click("a:has-text('flaky-failed')")
    page.wait_for_selector(".jobs-traceback")
    assert "flaky(7) failed" in page.inner_text(".jobs-traceback")
    both_themes(page, "task", full_page=True)
    page.click("button:has-text('Run again')")
    page.wait_for_selector("ul.messagelist")
    assert "Sent again: example_project.shop.tasks.flaky" in page.inner_text("ul.messagelist")

    # Queues: pause "emails"; the worker then skips it; resume, and it takes the message.
    page.goto(console + "queues/")
    page.locator("#queue-emails button:has-text('Pause')").click()  # listed: a live worker consumes it
    page.wait_for_selector("ul.messagelist")
    assert "Paused: emails" in page.inner_text("ul.messagelist")
    shell("from example_project.shop import tasks\ntasks.send_order_email.apply_async((404,), task_id='held')",
          example_env)
    shell("from example_project.shop import tasks\ntasks.add.delay(1, 1).get(timeout=20)", example_env)
    assert r.zcard(KEYS.queue("emails")) == 1  # the worker, idle on "default" and "emails", left it
    page.reload()
    assert "PAUSED" in page.locator("#queue-emails").inner_text()
    both_themes(page, "queues")
    page.locator("#queue-emails button:has-text('Resume')").click()
    page.wait_for_selector("ul.messagelist")
    until(page, lambda: r.zcard(KEYS.queue("emails")) == 0, "the resumed queue taken")

    # Purge "reports" (nobody consumes it): a confirm page states the count.
    page.locator("#queue-reports button:has-text('Purge')").click()
    page.wait_for_selector(".jobs-confirm")
    assert "3 messages waiting will be deleted" in page.inner_text(".jobs-confirm")
    shoot(page, "console-confirm.png")
    page.click("#jobs-confirm")
    page.wait_for_selector("ul.messagelist")
    assert "3 message(s) deleted from queue reports" in page.inner_text("ul.messagelist")
    assert r.zcard(KEYS.queue("reports")) == 0

    # Scheduled: the countdown, due in about an hour.
    page.goto(console + "scheduled/")
    assert "in-an-hour" in page.inner_text("#content")
    both_themes(page, "scheduled")

    # Dead letters: both selected, requeued in bulk through the confirm page.
    page.goto(console + "dead/")
    until(page, lambda: page.locator("input[name=target]").count() >= 2, "two dead letters")
    both_themes(page, "dead")
    page.check(".jobs-select-all")
    page.click("button[value=requeue_dead]")
    page.wait_for_selector(".jobs-confirm")
    assert "Requeue: 2 dead letters?" in page.inner_text(".jobs-confirm h2")
    page.click("#jobs-confirm")
    page.wait_for_selector("ul.messagelist")
    assert "2 dead letter(s) put back on their queues" in page.inner_text("ul.messagelist")

    # Metrics: per task, and one task's heat map.
    page.goto(console + "metrics/")
    until(page, lambda: "example_project.shop.tasks.add" in page.inner_text("#content"), "the metrics")
    both_themes(page, "metrics")
    page.click("a:has-text('example_project.shop.tasks.add')")
    page.wait_for_selector(".jobs-chart")
    both_themes(page, "metric")

    # Stop the report: terminate from the running page (it asks first).
    page.goto(console + "running/")
    page.locator("tr", has_text="report-running").locator("button:has-text('Terminate')").click()
    page.click("#jobs-confirm")
    page.wait_for_selector("ul.messagelist")
    until(page, lambda: "report-running" not in page.inner_text("#content"), "the report stopped")
    assert refused == []


def refusals(page: Any) -> list[str]:
    """What the browser says it refused under a Content-Security-Policy, as the page goes on."""
    said: list[str] = []
    page.on("console", lambda message: said.append(message.text) if "Content Security Policy" in message.text
            else None)
    return said


#: Injected into a console page as an XSS would be, had escaping failed: an inline script (added as a
#: new element) and an inline handler (by innerHTML, as console.js swaps in the live part); resolves
#: once the browser has reported both violations.
INJECT = """() => new Promise(resolve => {
  const seen = [];
  document.addEventListener('securitypolicyviolation', event => {
    seen.push(event.violatedDirective);
    if (seen.length === 2) resolve(seen);
  });
  const script = document.createElement('script');
  script.textContent = 'window.__xss = "script"';
  document.body.appendChild(script);
  document.getElementById('jobs-live').innerHTML += '<img src="/nowhere.png" onerror="window.__xss = 1">';
})"""


def test_the_consoles_policy_refuses_an_injected_script(browser: Any, site: str) -> None:  # noqa: F811
    """Defence in depth: were a value printed unescaped, the browser still would not run it."""
    page = browser.new_page()
    refused = refusals(page)
    login(page, site, "/admin/jobs/console/queues/")
    page.wait_for_selector("#jobs-live")
    response = page.goto(f"{site}/admin/jobs/console/queues/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    page.wait_for_load_state("load")
    assert refused == []  # the console's own page breaks none of it
    violated = page.evaluate(INJECT)
    assert sorted(d.split("-elem")[0].split("-attr")[0] for d in violated) == ["script-src", "script-src"], violated
    assert page.evaluate("window.__xss") is None
    # Chromium's words: "Refused to execute inline script because it violates…" in older versions,
    # "Executing inline script violates…" in newer ones; either way, reported as blocked.
    assert any("inline script" in text for text in refused), refused
    assert any("inline event handler" in text for text in refused), refused
