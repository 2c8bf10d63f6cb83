"""The installed package, used as a new user uses it: run by scripts/dist_check.py with the python of
a fresh virtualenv that holds the wheel (or the sdist) and no checkout, from a copy of this folder.

It starts its own redis-server (jobs.devserver, from the installed package) on a free loopback
port, then: manage.py check, migrate, collectstatic; one task through a real `runworker` process,
one periodic task through a real `runbeat`; every console page (and its live fragment) and every
admin page of jobs for a superuser, which must answer 200; the console's CSS and JS as the pages
link them, served from what collectstatic wrote. It fails if jobs was not imported from this
virtualenv's site-packages, or if a template the package ships was never rendered (a page this
script should visit). Its last line is a JSON summary that dist_check.py reads.
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

    closed = False

    def wait_for(self, pattern: str) -> None:
        regex, deadline = re.compile(pattern), time.monotonic() + TIMEOUT
        with self.changed:
            while not any(regex.search(line) for line in self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise Failed(f"manage.py {' '.join(self.args)} never printed /{pattern}/:\n" + self.output())
                self.changed.wait(left)

    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> int:
        """SIGTERM, as systemd or Kubernetes stops it; its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the session it leads: the command and its children
        except ProcessLookupError:
            pass
        self.proc.wait(10)


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


def smoke(summary: dict[str, Any]) -> None:
    summary["checked"] = manage("check", "--fail-level", "WARNING").strip()
    manage("migrate", "--noinput")
    manage("collectstatic", "--noinput")
    static_root = HERE / "static"
    shipped_static = installed("static")
    check(shipped_static, "the installed package has no static files")
    for name in shipped_static:
        check((static_root / name).is_file(), f"collectstatic did not write {name}")

    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.contrib.staticfiles import finders
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    setup_test_environment()  # the test client records each template rendered
    import redis
    from smoke_app import tasks

    import jobs
    from jobs.models import IntervalSchedule, PeriodicTask, TaskResult

    for name in shipped_static:
        found = finders.find(name)
        check(found and Path(jobs.__file__).resolve().parent in Path(found).resolve().parents,
              f"the staticfiles finders do not find {name} in the installed package (found {found})")

    client_redis = redis.Redis.from_url(os.environ["JOBS_BROKER_URL"])
    every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    periodic = PeriodicTask.objects.create(name="smoke tick", task="smoke_app.tasks.tick", schedule=every,
                                           args=["periodic"])

    worker, beat = Process("runworker", "-c", "2"), Process("runbeat")
    try:
        worker.wait_for(r"ready\.$")
        beat.wait_for(r"beat \S+ started")
        added = tasks.add.delay(2, 3)
        check(added.get(timeout=TIMEOUT) == 5, "add(2, 3) through runworker did not return 5")
        tick = client_redis.blpop(["smoke:ticks"], timeout=TIMEOUT)
        check(tick == (b"smoke:ticks", b"periodic"), f"runbeat never sent the periodic task (got {tick})")
        summary["beat"] = "periodic task sent by runbeat, run by runworker"

        admin_user = User.objects.create_superuser("admin", "admin@example.com", "pw")
        client = Client()
        client.force_login(admin_user)
        rendered: set[str] = set()

        def get(url: str, status: int = 200) -> str:
            response = client.get(url)
            rendered.update(t.name for t in response.templates if t.name)
            check(response.status_code == status, f"GET {url} answered {response.status_code}, not {status}:\n"
                                                  + response.content.decode(errors="replace")[:2000])
            return response.content.decode()

        held = tasks.hold.delay()
        check(client_redis.blpop(["smoke:held"], timeout=TIMEOUT), "the held task never started")
        console = [reverse(f"admin:jobs_console{suffix}") for suffix in (
            "", "_queues", "_workers", "_running", "_scheduled", "_tasks", "_dead", "_metrics", "_periodic")]
        console += [reverse("admin:jobs_console_task", args=[added.id]),
                    reverse("admin:jobs_console_dead_letter", args=["no-such-letter"]),
                    reverse("admin:jobs_console_metric", args=["smoke_app.tasks.add"])]
        pages = {url: get(url) for url in console}
        for url in console:
            get(url + "?fragment=1")
        check(held.id in pages[reverse("admin:jobs_console_running")], "the Running page does not show the held task")
        client_redis.rpush("smoke:release", "1")
        check(held.get(timeout=TIMEOUT) == "released", "the held task did not finish")
        confirm = client.post(reverse("admin:jobs_console_act"),
                              {"action": "purge", "target": "default", "next": console[1]})
        rendered.update(t.name for t in confirm.templates if t.name)
        check(confirm.status_code == 200 and "confirmed" in confirm.content.decode(),
              f"a purge did not ask first (status {confirm.status_code})")

        # The console's CSS and JS, at the addresses its pages link, served from collectstatic's output.
        for name in shipped_static:
            url = f"/static/{name}"
            check(url in pages[console[0]], f"the console's page does not link {url}")
            response = client.get(url)
            body = b"".join(response.streaming_content) if response.streaming else response.content
            check(response.status_code == 200 and body == (Path(finders.find(name))).read_bytes(),
                  f"GET {url} answered {response.status_code} or not the installed file")

        recorded(client_redis, lambda: TaskResult.objects.filter(task_id=added.id).exists())
        row = TaskResult.objects.get(task_id=added.id)
        check(row.status == "SUCCESS", f"the history row of add(2, 3) says {row.status}")
        from django.contrib import admin

        for model, model_admin in admin.site._registry.items():
            if model._meta.app_label != "jobs":
                continue
            info = (model._meta.app_label, model._meta.model_name)
            get(reverse("admin:%s_%s_changelist" % info))
            for obj in model._default_manager.all()[:1]:
                get(reverse("admin:%s_%s_change" % info, args=[obj.pk]))
        get(reverse("admin:jobs_periodictask_add"))
        check(periodic.name in get(reverse("admin:jobs_periodictask_changelist")), "the periodic task is not listed")
        check(added.id in get(reverse("admin:jobs_taskresult_changelist")), "the task is not in Task results")
        health = client.get("/jobs/health")
        check(health.status_code == 200, f"/jobs/health answered {health.status_code}: {health.content[:2000]!r}")
        metrics = client.get("/jobs/metrics")
        check(metrics.status_code == 200 and b"smoke_app.tasks.add" in metrics.content,
              f"/jobs/metrics answered {metrics.status_code} without the task")

        shipped = {f"admin/jobs/{name}" for name in installed("templates/admin/jobs")}
        never = sorted(shipped - rendered)
        check(not never, "templates the package ships that no page of the smoke rendered (visit a page that "
                         f"uses each in scripts/dist_smoke/smoke.py): {never}")
        summary.update(pages=len(console) * 2, templates=len(shipped), static=shipped_static)
    except BaseException:
        for process in (worker, beat):
            print(f"--- manage.py {' '.join(process.args)}:\n{process.output()}", file=sys.stderr)
        raise
    finally:
        codes = {" ".join(p.args): p.stop() for p in (beat, worker)}
    check(all(code == 0 for code in codes.values()), f"after SIGTERM the commands exited {codes}, not 0")


def recorded(client_redis: Any, condition: Any) -> None:
    """Until `condition()` (a read of the database) holds, checked again each time a worker's
    recorder deletes what it wrote from the history stream (a keyspace event: after its commit)."""
    from jobs.engine.app import current

    client_redis.config_set("notify-keyspace-events", "Kt")
    deadline = time.monotonic() + TIMEOUT
    with client_redis.pubsub() as events:
        events.subscribe(f"__keyspace@0__:{current().broker.keys.history}")
        while not condition():
            left = deadline - time.monotonic()
            check(left > 0, "the worker never wrote the task's history row")
            events.get_message(timeout=left)


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
