"""The installed package, used as a new user uses it: run by scripts/dist_check.py with the python of
a fresh virtualenv that holds the wheel (or the sdist) and no checkout, from a copy of this folder.

It starts its own redis-server (jobs.devserver, from the installed package) on a free loopback
port, then: manage.py check, migrate, collectstatic; one task through a real `runworker` process,
one periodic task through a real `runbeat`; every console page (and its live fragment) and every
admin page of jobs for a superuser, which must answer 200; what the pages link under /static/ (the
console's CSS and JS) served from what collectstatic wrote. It fails if jobs was not imported from
this virtualenv's site-packages, or if a template the package ships was never rendered (then a page
that uses it belongs here). Its last line is a JSON summary that dist_check.py reads.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TIMEOUT = 60.0


class Failed(AssertionError):
    pass


def check(condition: object, message: str) -> None:
    if not condition:
        raise Failed(message)


def manage(*args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=HERE, capture_output=True, text=True,
                          timeout=TIMEOUT)
    check(done.returncode == 0, f"manage.py {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout + done.stderr


class Process:
    """A manage.py command running beside the smoke; its output is read line by line, so that the
    smoke waits for a line (an event), never for a time."""

    def __init__(self, *args: str) -> None:
        self.args = args
        self.proc = subprocess.Popen([sys.executable, "manage.py", *args], cwd=HERE, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: list[str] = []
        self.closed = False
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.closed = True
            self.changed.notify_all()

    def wait_for(self, pattern: str) -> None:
        regex, deadline = re.compile(pattern), time.monotonic() + TIMEOUT
        with self.changed:
            while not any(regex.search(line) for line in self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise Failed(f"manage.py {' '.join(self.args)} never printed /{pattern}/:\n" + self.output())
                self.changed.wait(left)

    def output(self) -> str:
        with self.changed:
            return "\n".join(self.lines)

    def stop(self) -> int:
        """SIGTERM, as systemd or Kubernetes stops it; its exit status (-9: killed after TIMEOUT)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the session it leads: the command and its children
            self.proc.wait(10)
            return -9


@contextmanager
def running(*commands: tuple[str, ...]) -> Iterator[None]:
    """The commands running until the block ends; each must then stop cleanly on SIGTERM. Their
    output is shown if the block fails."""
    processes = [Process(*command) for command in commands]
    try:
        yield
    except BaseException:
        for process in processes:
            print(f"--- manage.py {' '.join(process.args)}:\n{process.output()}", file=sys.stderr)
        raise
    finally:
        codes = {" ".join(p.args): p.stop() for p in reversed(processes)}
    check(all(code == 0 for code in codes.values()), f"on SIGTERM the commands exited {codes}, not 0")


def where_jobs_comes_from() -> str:
    import jobs

    where = Path(jobs.__file__).resolve()
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    check(site in where.parents, f"jobs was imported from {where}, not from this virtualenv's site-packages ({site})")
    source = os.environ.get("DIST_CHECK_SOURCE")
    check(not source or Path(source).resolve() not in where.parents, f"jobs was imported from the checkout: {where}")
    return str(where.parent)


def installed(folder: str) -> list[str]:
    """The files the installed package holds under jobs/<folder>, relative to it."""
    import jobs

    root = Path(jobs.__file__).resolve().parent / folder
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


class Browser:
    """A superuser's Django test client that remembers every template a response rendered."""

    def __init__(self) -> None:
        from django.contrib.auth.models import User
        from django.test import Client

        self.client = Client()
        self.client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
        self.rendered: set[str] = set()

    def get(self, url: str) -> str:
        return self._answer("GET", url, self.client.get(url))

    def post(self, url: str, data: dict[str, str]) -> str:
        return self._answer("POST", url, self.client.post(url, data))

    def _answer(self, method: str, url: str, response: Any) -> str:
        self.rendered.update(t.name for t in getattr(response, "templates", []) if t.name)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        check(response.status_code == 200, f"{method} {url} answered {response.status_code}, not 200:\n"
                                           + body.decode(errors="replace")[:2000])
        return body.decode(errors="replace")


def commands() -> None:
    """check (jobs' own checks of Redis included; a warning fails), migrate, collectstatic."""
    manage("check", "--fail-level", "WARNING")
    manage("migrate", "--noinput")
    manage("collectstatic", "--noinput")
    shipped = installed("static")
    check(shipped, "the installed package has no static files")
    for name in shipped:
        check((HERE / "static" / name).is_file(), f"collectstatic did not write {name}")


def recorded(client_redis: Any, condition: Callable[[], bool]) -> None:
    """Until `condition()` (a read of the database) holds, checked again each time a worker's
    recorder deletes what it wrote from the history stream (a keyspace event: after its commit)."""
    from jobs.engine.setup.app import current

    client_redis.config_set("notify-keyspace-events", "Kt")
    deadline = time.monotonic() + TIMEOUT
    with client_redis.pubsub() as events:
        events.subscribe(f"__keyspace@0__:{current().broker.keys.history}")
        while not condition():
            left = deadline - time.monotonic()
            check(left > 0, "the worker never wrote the task's history row")
            events.get_message(timeout=left)


def console(browser: Browser, client_redis: Any, task_id: str) -> dict[str, str]:
    """Every console page and its live fragment, the Running page while a task runs, and the page a
    purge asks on; the pages' HTML by URL."""
    from django.urls import reverse
    from smoke_app import tasks

    urls = [reverse(f"admin:jobs_console{suffix}") for suffix in (
        "", "_queues", "_workers", "_running", "_scheduled", "_tasks", "_dead", "_metrics", "_periodic")]
    urls += [reverse("admin:jobs_console_task", args=[task_id]),
             reverse("admin:jobs_console_dead_letter", args=["no-such-letter"]),
             reverse("admin:jobs_console_metric", args=["smoke_app.tasks.add"])]
    held = tasks.hold.delay()
    check(client_redis.blpop(["smoke:held"], timeout=TIMEOUT), "the held task never started")
    pages = {url: browser.get(url) for url in urls}
    for url in urls:
        browser.get(url + "?fragment=1")
    check(held.id in pages[reverse("admin:jobs_console_running")], "the Running page does not show the held task")
    client_redis.rpush("smoke:release", "1")
    check(held.get(timeout=TIMEOUT) == "released", "the held task did not finish")
    asked = browser.post(reverse("admin:jobs_console_act"), {"action": "purge", "target": "default", "next": urls[1]})
    check('name="confirmed"' in asked, "a purge did not ask first")
    sweep_in_steps(browser, urls[4])
    return pages


def sweep_in_steps(browser: Browser, back: str) -> None:
    """The progress page of a "delete all scheduled" that does not end in one request: a batch of one
    and no time for a second, with two tasks scheduled."""
    import re

    from django.urls import reverse
    from smoke_app import tasks

    import jobs.console.views
    import jobs.control

    jobs.console.views.SWEEP_SECONDS, jobs.control.SWEEP_BATCH = 0.0, 1
    for _ in range(2):
        tasks.add.apply_async((1, 1), countdown=3600)
    act = reverse("admin:jobs_console_act")
    asked = browser.post(act, {"action": "delete_all_scheduled", "next": back})
    fields = dict(re.findall(r'name="(upto|total)" value="([^"]*)"', asked))
    check(set(fields) == {"upto", "total"}, "a delete of all scheduled tasks did not ask first, with its counts")
    page = browser.post(act, {"action": "delete_all_scheduled", "confirmed": "1", "next": back, **fields})
    check('name="taken"' in page, "a sweep that does not end at once did not show how far it got")


def static_served(browser: Browser, pages: dict[str, str]) -> list[str]:
    """What the pages link under /static/, served from collectstatic's output, as the installed files."""
    from django.contrib.staticfiles import finders

    import jobs

    package = Path(jobs.__file__).resolve().parent
    linked = {url for page in pages.values() for url in re.findall(r'(?:href|src)="(/static/[^"?#]+)', page)}
    own = sorted(url for url in linked if url.startswith("/static/jobs/"))
    check(own, "the console's pages link no static file of its own")
    for url in sorted(linked):
        found = finders.find(url.removeprefix("/static/"))
        check(found, f"{url}, linked by the console, is found by no staticfiles finder")
        check(url not in own or package in Path(found).resolve().parents, f"{url} is not the installed package's")
        served = browser.get(url)
        check(served == Path(found).read_bytes().decode(errors="replace"), f"{url} is served, but not as the file")
    return own


def admin_pages(browser: Browser, task_id: str, periodic: str) -> None:
    """The list of every model of jobs in the admin, the change page of one of each, the add page of
    a periodic task (its task-name widget)."""
    from django.contrib import admin
    from django.urls import NoReverseMatch, reverse

    for model in admin.site._registry:
        if model._meta.app_label != "jobs":
            continue
        info = (model._meta.app_label, model._meta.model_name)
        listed = browser.get(reverse("admin:%s_%s_changelist" % info))
        for row in model._default_manager.all()[:1]:
            try:
                change = reverse("admin:%s_%s_change" % info, args=[row.pk])
            except NoReverseMatch:  # the console: pages of its own, no change page
                continue
            browser.get(change)
        if model._meta.model_name == "taskresult":
            check(task_id in listed, "Task results do not list the task")
        if model._meta.model_name == "periodictask":
            check(periodic in listed, "Periodic tasks do not list the periodic task")
    browser.get(reverse("admin:jobs_periodictask_add"))


def smoke(summary: dict[str, Any]) -> None:
    commands()
    import django

    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client records each template rendered
    import redis
    from smoke_app import tasks

    from jobs.models import IntervalSchedule, PeriodicTask, TaskResult

    client_redis = redis.Redis.from_url(os.environ["JOBS_BROKER_URL"])
    every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    periodic = PeriodicTask.objects.create(name="smoke tick", task="smoke_app.tasks.tick", schedule=every,
                                           args=["periodic"])
    with running(("runworker", "-c", "2"), ("runbeat",)):
        added = tasks.add.delay(2, 3)
        check(added.get(timeout=TIMEOUT) == 5, "add(2, 3) through runworker did not return 5")
        tick = client_redis.blpop(["smoke:ticks"], timeout=TIMEOUT)
        check(tick == (b"smoke:ticks", b"periodic"), f"runbeat never sent the periodic task (got {tick})")
        recorded(client_redis, lambda: TaskResult.objects.filter(task_id=added.id).exists())
        status = TaskResult.objects.get(task_id=added.id).status
        check(status == "SUCCESS", f"the history row of add(2, 3) says {status}")

        browser = Browser()
        pages = console(browser, client_redis, added.id)
        summary["served"] = static_served(browser, pages)
        admin_pages(browser, added.id, periodic.name)
        browser.get("/jobs/health")
        check("smoke_app.tasks.add" in browser.get("/jobs/metrics"), "/jobs/metrics does not count the task")

    shipped = {f"admin/jobs/{name}" for name in installed("templates/admin/jobs")}
    never = sorted(shipped - browser.rendered)
    check(not never, f"templates the package ships that no page of the smoke rendered: {never} (visit a page "
                     "that uses each in scripts/dist_smoke/smoke.py)")
    summary.update(pages=len(pages) * 2, templates=len(shipped))


def main() -> None:
    import django

    summary: dict[str, Any] = {"python": sys.version.split()[0], "django": django.get_version(),
                               "jobs": where_jobs_comes_from()}
    from jobs.devserver import RedisServer

    server = RedisServer(appendonly=True).start()
    os.environ["JOBS_BROKER_URL"] = server.url
    os.environ["DJANGO_SETTINGS_MODULE"] = "smoke_project.settings"
    try:
        smoke(summary)
    finally:
        server.cleanup()
    print(json.dumps(summary))


if __name__ == "__main__":
    try:
        main()
    except Failed as failure:
        print(f"dist smoke FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
