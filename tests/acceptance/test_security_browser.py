"""Every page a browser reaches, filled with what would run a script if any of it were printed
unescaped, in a real browser (Debian's Chromium, driven by Playwright).

Tasks of tests/hostile carry HTML and script in every text they control: a task name as hostile as
the name rules allow (`javascript:window.__xss`), arguments and keyword arguments (keys too), a
custom state and its progress, an exception message and its traceback, a result; a worker is started
with such a hostname (`runworker -n`); periodic tasks have such names, arguments and descriptions;
dead letters have such reasons and messages (written into the queue by hand); console actions are
posted with such targets (they land in the admin's history and its messages), and GET parameters and
URL paths carry them. Each payload sets `window.__xss`. Then every console page (and its live
refresh, which swaps HTML in), the confirm page, and the admin's TaskResult and PeriodicTask lists
and forms, the schedule lists and the admin index are opened; each must show the payload as text,
and none may run it: no dialog, `window.__xss` unset, no element with a handler, a script or a
`javascript:` link that came from the data.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import redis

from jobs import control
from jobs.engine.send.asyncresult import AsyncResult
from jobs.engine.send.producer import send_task
from jobs.engine.setup import app as engine_app
from jobs.engine.wire.message import Message
from tests.acceptance.test_admin_browser import browser, free_port  # noqa: F401 (the browser fixture)
from tests.acceptance.test_console_browser import refusals, until
from tests.conftest import ROOT
from tests.hostile.tasks import ATTRIBUTE, NAME, PAYLOAD, SCRIPT, STATE, URL
from tests.signed import signed

PASSWORD = "security-test-password"
HOSTNAME = 'w"><img src=x onerror=window.__xss=1>'

SET_UP = f"""
from django.contrib.auth.models import User
from jobs.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from tests.hostile.tasks import ATTRIBUTE, NAME, PAYLOAD, URL
User.objects.create_superuser("admin", "admin@example.com", {PASSWORD!r})
nightly = CrontabSchedule.objects.create(minute="0", hour="3", timezone="Europe/Paris")
often = IntervalSchedule.objects.create(every=5, period="minutes")
PeriodicTask.objects.create(name=PAYLOAD[:200], task=NAME, schedule=nightly, args=[PAYLOAD, URL],
                            kwargs={{"url": URL, PAYLOAD: PAYLOAD}}, description=PAYLOAD)
PeriodicTask.objects.create(name="every five " + ATTRIBUTE, task=NAME, schedule=often, args=[URL])
"""

#: Run in each page: what came from the data and would run (nothing, if it is all escaped).
LIVE_DOM = """() => {
  const URLS = ['href', 'src', 'action', 'formaction', 'xlink:href', 'data', 'poster', 'srcdoc'];
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      if (a.name.startsWith('on') && a.value.includes('__xss')) found.push(el.tagName + '[' + a.name + ']');
      if (URLS.includes(a.name) && /^\\s*javascript:/i.test(a.value)) found.push(el.tagName + '[' + a.name + ']');
    }
  }
  for (const s of document.querySelectorAll('script')) {
    if (s.textContent.includes('__xss')) found.push('script: ' + s.textContent.slice(0, 80));
  }
  return found;
}"""


#: Whether the page shows this text as it is: as text, or as the value of a field.
SHOWN = """text => document.body.innerText.includes(text) ||
  [...document.querySelectorAll('input, textarea, option')].some(field => field.value.includes(text))"""


@pytest.fixture
def hostile_env(tmp_path: Path) -> dict[str, str]:
    """The test project with the hostile tasks, on a SQLite database of its own (its web server's and its
    worker's), also in the PostgreSQL run: what the pages show does not depend on the database."""
    return {"DJANGO_SETTINGS_MODULE": "tests.hostile.settings", "JOBS_TEST_DB_NAME": str(tmp_path / "db.sqlite3"),
            "JOBS_TEST_DATABASE_URL": "", "TZ": "UTC"}


@pytest.fixture
def hostile_site(hostile_env: dict[str, str], r: redis.Redis) -> Iterator[str]:
    env = {**os.environ, **hostile_env}
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120)
    subprocess.run([*manage, "shell", "-v", "0", "-c", SET_UP], cwd=ROOT, env=env, check=True, timeout=60)
    port = free_port()
    serve = [*manage, "runserver", f"127.0.0.1:{port}", "--noreload", "--insecure"]  # --insecure: static files
    server = subprocess.Popen(serve, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # runserver says it started before it listens
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


def recorded(r: redis.Redis, database: str, task_ids: list[str], timeout: float = 30.0) -> None:
    """Until the worker's recorder has written these tasks' rows, re-checked each time it deletes
    what it wrote from the history stream (a keyspace notification, after its commit)."""
    def done() -> bool:
        with sqlite3.connect(database) as db:
            marks = ",".join("?" * len(task_ids))
            found = db.execute(f"SELECT COUNT(*) FROM jobs_taskresult WHERE task_id IN ({marks}) "  # noqa: S608
                               "AND date_done IS NOT NULL", task_ids).fetchone()[0]
        return bool(found == len(task_ids))

    r.config_set("notify-keyspace-events", "Kt")
    deadline = time.monotonic() + timeout
    with r.pubsub() as events:
        events.subscribe(f"__keyspace@0__:{engine_app.current().broker.keys.history}")
        assert events.get_message(timeout=5)["type"] == "subscribe"
        while not done():
            assert time.monotonic() < deadline, f"{task_ids} not recorded in {timeout:g} s"
            events.get_message(timeout=deadline - time.monotonic())


def wire(task_id: str, envelope: str) -> bytes:
    return f"0000000000001|0|{task_id}|{NAME}|{envelope}".encode()


def send_everything(r: redis.Redis, worker: Any) -> None:
    """Tasks that succeed, fail, run, wait, and die, each with the payloads in every text it has."""
    send_task(NAME, [PAYLOAD, {"html": PAYLOAD, "url": URL}], {"url": URL, PAYLOAD: SCRIPT}, task_id="hostile-ok")
    send_task("hostile.fails", [PAYLOAD], task_id="hostile-failed")
    send_task(NAME, [PAYLOAD], {"url": URL}, task_id="hostile-later", countdown=3600)
    send_task("hostile.progress", ["p1"], task_id="hostile-running")
    assert r.blpop(["started:p1"], timeout=30)
    queue = engine_app.current().broker.keys.queue("default")
    # Signed as the producer signs (tests/signed.py): dead for its priority, whose reason quotes the payload.
    r.zadd(queue, {SCRIPT.encode(): 0, signed(wire("hostile-broken", json.dumps({"a": [PAYLOAD], "p": PAYLOAD}))): 0})
    engine_app.current().broker.sends.enqueue([Message(id="hostile-unknown", task="hostile.nobody", args=(PAYLOAD,),
                                                 kwargs={"url": URL})])
    worker.wait_count("moved to the dead letters", 3)
    assert control.monitor().broker.dead.count() == 3


#: Posts a console action as a page's own form would (with its CSRF token), with any target.
POST_ACTION = """([action, target, confirmed, next]) => {
  const form = document.createElement('form');
  form.method = 'post';
  form.action = '/admin/jobs/console/act/';
  const fields = {csrfmiddlewaretoken: document.querySelector('input[name=csrfmiddlewaretoken]').value,
                  action: action, target: target, next: next};
  if (confirmed) fields.confirmed = '1';
  for (const [name, value] of Object.entries(fields)) {
    const input = document.createElement('input');
    input.type = 'hidden';
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }
  document.body.appendChild(form);
  form.submit();
}"""


def test_no_script_from_the_data_runs_on_any_page(browser, hostile_site, hostile_env, start_worker, r):  # noqa: F811
    site = hostile_site
    worker = start_worker("-n", HOSTNAME, "-c", "2", env=hostile_env)
    send_everything(r, worker)
    recorded(r, hostile_env["JOBS_TEST_DB_NAME"], ["hostile-ok", "hostile-failed"])

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    refused = refusals(page)  # the console's own script and styles break no rule of its policy
    page.goto(f"{site}/admin/login/?next=/admin/jobs/console/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state("load")  # console.js listens to the refresh menu once it has run
    page.select_option("#jobs-refresh", "2")  # remembered: every console page refreshes every 2 s

    def nothing_ran(where: str, shows: tuple[str, ...]) -> None:
        assert page.evaluate(LIVE_DOM) == [], where
        assert page.evaluate("window.__xss") is None, where
        assert dialogs == [], (where, dialogs)
        for text in shows:  # the payloads are there, as text or as a field's value: the page was tested with them
            assert page.evaluate(SHOWN, text), (where, text)

    def console(path: str, *shows: str) -> None:
        response = page.goto(f"{site}/admin/jobs/console/{path}")
        assert "'unsafe-inline'" not in response.headers["content-security-policy"], path
        nothing_ran(path, shows)
        assert refused == [], (path, refused)
        # The live part, fetched again and swapped in by console.js (innerHTML), runs nothing either.
        before = int(page.evaluate("document.getElementById('jobs-live').dataset.refreshed || 0"))
        # (A selector: wait_for_function's eval() is refused by the console's policy.)
        page.wait_for_selector(f"#jobs-live[data-refreshed]:not([data-refreshed='{before}'])", state="attached",
                               timeout=15000)
        nothing_ran(path + " (refreshed)", shows)

    hostile = quote(ATTRIBUTE, safe="")  # a payload without "/", for URL paths
    console("", HOSTNAME)  # the queues' consumers
    console("queues/", HOSTNAME)
    console("workers/", HOSTNAME, "hostile.progress")
    console("running/", HOSTNAME, "hostile.progress")
    console("scheduled/", SCRIPT, URL)
    console("tasks/", SCRIPT, NAME, HOSTNAME)
    console("tasks/?" + urlencode({"q": PAYLOAD, "args": PAYLOAD, "worker": PAYLOAD, "queue": ATTRIBUTE,
                                   "since": "24"}), PAYLOAD)
    # A number parameter holding a payload is a 400 that names it (console/params.py): text, run by nothing.
    page.goto(f"{site}/admin/jobs/console/tasks/?" + urlencode({"since": URL}))
    nothing_ran("tasks/?since=<a payload> (400)", ("since=",))
    console("tasks/hostile-ok/", SCRIPT, URL, NAME)
    console("tasks/hostile-failed/", SCRIPT, "ValueError")
    console("tasks/hostile-running/", STATE, SCRIPT, URL)  # its state and progress
    console("tasks/hostile-later/")  # in the scheduled set: not in the history, no result yet
    console(f"tasks/{hostile}/", ATTRIBUTE)
    console("dead/", SCRIPT, "hostile.nobody")
    console("dead/?" + urlencode({"reason": PAYLOAD, "task": PAYLOAD}), PAYLOAD)
    for letter in control.monitor().dead_letters(10):
        console(f"dead/{quote(letter.id, safe='')}/", SCRIPT)
    console(f"dead/{hostile}/", ATTRIBUTE)
    console("periodic/", SCRIPT, NAME)

    # The task that ran all along ends; a consumer sends its counters with its next fetch.
    r.rpush("release:p1", 1)
    assert AsyncResult("hostile-running").get(timeout=30) == PAYLOAD
    page.goto(f"{site}/admin/jobs/console/metrics/")
    until(page, lambda: NAME in page.inner_text("#content") and "hostile.fails" in page.inner_text("#content"),
          "the hostile tasks in the metrics")
    console("metrics/", NAME)
    console(f"metrics/{quote(NAME, safe='')}/", NAME)  # the charts (SVG drawn on the server)
    console(f"metrics/{hostile}/", ATTRIBUTE)
    console("metrics/hostile.fails/")

    # Actions posted with hostile targets (and a javascript: URL to go back to): the confirm page lists
    # them, an error message quotes one, the admin's history keeps them (its index shows them).
    for action, confirmed, shown, shows in (("purge", False, ".jobs-confirm", (SCRIPT,)),
                                            ("pause", True, "ul.messagelist", (SCRIPT,)),
                                            ("revoke", True, "ul.messagelist", ())):
        page.goto(f"{site}/admin/jobs/console/queues/")
        with page.expect_navigation():
            page.evaluate(POST_ACTION, [action, PAYLOAD, confirmed, URL])
        page.wait_for_selector(shown)
        nothing_ran(f"{action} with a hostile target", shows)

    # The admin: the history and the periodic tasks, lists and forms; the schedules; the index.
    def admin(path: str, *shows: str) -> None:
        page.goto(f"{site}/admin/{path}")
        page.wait_for_selector("#content")
        nothing_ran(path, shows)

    admin("", SCRIPT)  # Recent actions: the console's, with their targets
    admin("jobs/taskresult/", NAME, HOSTNAME)
    admin("jobs/taskresult/?" + urlencode({"q": PAYLOAD}), PAYLOAD)
    admin("jobs/taskresult/?" + urlencode({"worker": HOSTNAME, "status__exact": "FAILURE"}), HOSTNAME)
    assert page.locator("#result_list tbody tr").count() == 1  # the hostname is a filter that works
    admin("jobs/periodictask/", SCRIPT, NAME)
    admin("jobs/periodictask/?" + urlencode({"q": PAYLOAD}), PAYLOAD)
    for listing in ("jobs/taskresult/", "jobs/periodictask/"):
        page.goto(f"{site}/admin/{listing}")
        rows = page.eval_on_selector_all("#result_list th a", "links => links.map(a => a.getAttribute('href'))")
        assert len(rows) >= 2, listing
        for href in rows:
            admin(href.removeprefix("/admin/"), SCRIPT if "taskresult" in listing else URL)
    admin("jobs/periodictask/add/", NAME)  # the task names offered
    for schedules in ("crontabschedule", "intervalschedule", "clockedschedule"):
        admin(f"jobs/{schedules}/")
