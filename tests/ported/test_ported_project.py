"""The port of a Celery project, run as its Procfile says: real `runworker` and `runbeat` processes
with the port's own settings (DJANGO_SETTINGS_MODULE=proj.settings) on the tests' private Redis and
the test's database. This process plays the web side: it calls the project's code (shop/orders.py)
with the port's JOBS, as a view would. Every call of the Celery original is made, and checked by
what it returns or by what the tasks wrote down in Redis (shop/ledger.py), awaited with BLPOP."""

from __future__ import annotations

import importlib
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from django.db import transaction
from django.test import override_settings

from jobs import AsyncResult
from jobs.compat.celery_settings import CELERY_SETTINGS
from jobs.engine.setup import app as engine_app
from jobs.exceptions import TaskRevoked
from jobs.models import PeriodicTask
from tests.conftest import ROOT, Worker
from tests.ported.conftest import PROJECT

from shop import orders, periodic, tasks  # isort: skip  (the ported project, on sys.path by conftest.py)

ORIGINAL = Path(__file__).resolve().parent / "celery_original"


def load(module: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A settings module of the port, read with the private Redis's URL in REDIS_URL, as a deploy sets it."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    return importlib.import_module(module)


@pytest.fixture
def web(redis_server, monkeypatch) -> Iterator[ModuleType]:
    """This process with the port's JOBS, as its web processes have them."""
    settings = load("proj.settings", redis_server.url, monkeypatch)
    # Its SECRET_KEY too: the messages' signing keys derive from it, and its workers have the same.
    with override_settings(JOBS=settings.JOBS, SECRET_KEY=settings.SECRET_KEY):
        yield settings


@pytest.fixture
def project_env(redis_server, test_database_env) -> dict[str, str]:
    return {"DJANGO_SETTINGS_MODULE": "proj.settings", "REDIS_URL": redis_server.url, **test_database_env,
            "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT), os.environ.get("PYTHONPATH")) if p)}


@pytest.fixture
def procfile(project_env) -> Iterator[Callable[..., Worker]]:
    """Starts a process type of the port's Procfile (`worker`, `beat`), its options replaced if given."""
    lines = dict(line.split(": ", 1) for line in (PROJECT / "Procfile").read_text().splitlines() if line)
    started: list[Worker] = []

    def start(kind: str, *options: str) -> Worker:
        python, manage, command, *args = shlex.split(lines[kind])
        assert (python, manage) == ("python", "manage.py")
        process = Worker(list(options or args), env=project_env, command=command)
        started.append(process)
        process.wait_for(r"ready\.$" if command == "runworker" else r"beat \S+ started")
        return process

    yield start
    for process in started:
        process.cleanup()


def queued(r, queue: str) -> int:
    return r.zcard(engine_app.current().keys.queue(queue))


def test_only_what_the_docs_name_changed_and_the_checks_are_quiet(redis_server):
    """Every CELERY_* setting of the original has a JOBS key in the port, where the mapping names one;
    nothing of Celery is imported; `manage.py check` with the port's settings finds nothing to say."""
    original = (ORIGINAL / "proj" / "settings.py.txt").read_text()
    names = re.findall(r"^(CELERY_[A-Z_]+) =", original, re.M)
    assert len(names) == 12 and set(names) <= set(CELERY_SETTINGS)
    ported = (PROJECT / "proj" / "settings.py").read_text()
    assert {CELERY_SETTINGS[n].key for n in names} - {None} <= set(re.findall(r'^    "([A-Z_]+)":', ported, re.M))
    for path in PROJECT.rglob("*.py"):
        assert not re.search(r"^\s*(from|import) (celery|django_celery)", path.read_text(), re.M), path
    for settings in ("proj.settings", "proj.test_settings"):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings, "REDIS_URL": redis_server.url,
               "PYTHONPATH": str(PROJECT)}
        done = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)
        # The tests' Redis keeps nothing on disk (jobs.W003), as a project's Redis should not.
        assert done.returncode == 0 and re.findall(r"\(([\w.]+)\)", done.stderr) in ([], ["jobs.W003"]), done.stderr


def test_calls_results_and_routes(web, procfile, r):
    procfile("worker")
    sent = tasks.add.delay(2, 3)
    again = AsyncResult(sent.id)
    assert again.get(timeout=10) == 5 and again.status == "SUCCESS" and again.result == 5
    assert orders.status(sent.id) == ("SUCCESS", 5)
    assert orders.by_name(2, 2).get(timeout=10) == 4
    assert [result.get(timeout=10) for result in orders.later(1, 2)] == [3, 3]

    stale = orders.stale(1, 1)  # expires before its countdown is over
    with pytest.raises(TaskRevoked):
        stale.get(timeout=10)
    cancelled = orders.cancel(1, 1, after=1)
    with pytest.raises(TaskRevoked):
        cancelled.get(timeout=10)
    assert AsyncResult(cancelled.id).status == "REVOKED"

    routed = tasks.build_report.delay("2026-03-01")
    rerun = orders.rerun_report("2026-03-02")
    assert routed.get(timeout=10) == {"day": "2026-03-01", "orders": 10}
    assert rerun.get(timeout=10) == {"day": "2026-03-02", "orders": 10}
    assert (routed.queue, rerun.queue) == ("reports", "default")  # ROUTES, and the call's queue= above them

    exported = tasks.export_catalogue.delay(1000).get(timeout=15)  # soft_time_limit=1 of 50 s of work
    assert exported["complete"] is False and 0 < exported["exported"] < 1000


def test_workflows(web, procfile):
    procfile("worker")
    assert orders.pipeline(2).get(timeout=10) == 16
    assert orders.fan_out(5).get(timeout=10) == [0, 2, 4, 6, 8]
    assert orders.month_report(["a", "bb", "ccc"]).get(timeout=10) == {"days": 3, "orders": 6}
    assert orders.nested(1).get(timeout=10) == 8  # a group inside a chain: total([4, 4])


def test_retries_callbacks_and_time_limits(web, procfile, r):
    procfile("worker")
    r.set("gateway:outages", 2)
    assert orders.checkout("A-1", 1299).get(timeout=15) == {"order": "A-1", "amount_cents": 1299, "retries": 2}
    assert r.blpop("charged", 10) == (b"charged", b"A-1")  # link=on_charged.s()

    r.set("gateway:outages", 100)
    failed = orders.checkout("A-2", 500)
    with pytest.raises(tasks.GatewayDown, match="no answer for order A-2"):
        failed.get(timeout=20)  # max_retries=3, retry_backoff: 1 + 2 + 4 s at most
    assert AsyncResult(failed.id).status == "FAILURE" and isinstance(AsyncResult(failed.id).result, tasks.GatewayDown)
    _, errback = r.blpop("charge-failed", 10)  # link_error=on_charge_failed.s(), given (request, exc, traceback)
    assert errback.decode().startswith(f"{failed.id} GatewayDown(")

    r.set("stock:outages:S1", 1)
    r.set("stock:outages:S2", 100)
    recovered, exhausted = tasks.sync_stock.delay("S1"), tasks.sync_stock.delay("S2")
    assert recovered.get(timeout=10) == {"sku": "S1", "retries": 1}  # self.retry(exc=..., countdown=0.5)
    with pytest.raises(tasks.StockApiError):  # the exception given to retry(), after max_retries=2
        exhausted.get(timeout=10)
    assert int(r.get("stock:outages:S2")) == 100 - 3


def test_priorities_are_turned_around(web, procfile, r):
    """The original's express orders went with priority=0, first on Celery's Redis transport; the port
    says 9, as docs/from-celery.md says, and they still go first."""
    for order in ("standard-1", "standard-2"):
        orders.ship(order)
    orders.ship("express-1", express=True)
    procfile("worker", "-Q", "default", "-c", "1")
    assert [r.blpop("fulfilled", 10)[1] for _ in range(3)] == [b"express-1", b"standard-1", b"standard-2"]


def test_sent_on_commit_routed_to_emails_and_run_against_the_database(web, procfile, r):
    with pytest.raises(RuntimeError), transaction.atomic():
        orders.register("ghost@example.com")
        raise RuntimeError("the request failed")
    assert queued(r, "emails") == 0  # rolled back: neither transaction.on_commit nor delay_on_commit sent

    orders.register("ann@example.com")
    assert queued(r, "emails") == 2
    procfile("worker")
    assert r.blpop("receipts", 10) == (b"receipts", b"ann@example.com")
    assert r.blpop("welcomes", 10) == (b"welcomes", b"ann@example.com")


def test_beat_sends_the_settings_schedule_and_the_periodic_tasks_made_in_code(web, procfile, r):
    periodic.install()  # django-celery-beat's code, on jobs.models
    procfile("worker")
    procfile("beat")
    assert r.blpop("heartbeat:settings", 15) is not None  # CELERY_BEAT_SCHEDULE, a timedelta
    assert r.blpop("heartbeat:database", 15) is not None  # PeriodicTask(interval=..., args=json.dumps([...]))
    nightly = PeriodicTask.objects.get(name="nightly-cleanup")
    assert (nightly.crontab.hour, nightly.crontab.minute, nightly.source) == ("3", "0", PeriodicTask.SETTINGS)
    morning = PeriodicTask.objects.get(name="morning stock sync")
    assert (morning.crontab.hour, str(morning.crontab.timezone), morning.kwargs) == ("4", "Europe/Moscow",
                                                                                     {"sku": "ALL"})


def test_the_projects_own_tests_run_eagerly(redis_server, monkeypatch, r, db, django_capture_on_commit_callbacks):
    """CELERY_TASK_ALWAYS_EAGER, ported to JOBS["EAGER"] in proj/test_settings.py: no worker, no queue."""
    settings = load("proj.test_settings", redis_server.url, monkeypatch)
    with override_settings(JOBS=settings.JOBS):
        assert tasks.add.delay(2, 3).get() == 5
        assert orders.pipeline(2).get() == 16
        assert orders.fan_out(3).get() == [0, 2, 4]
        assert orders.month_report(["a", "bb"]).get() == {"days": 2, "orders": 3}
        assert orders.nested(1).get() == 8
        r.set("gateway:outages", 1)
        assert orders.checkout("E-1", 100).get() == {"order": "E-1", "amount_cents": 100, "retries": 1}
        r.set("stock:outages:E", 100)
        with pytest.raises(tasks.StockApiError):  # EAGER_PROPAGATES: raised at the call
            tasks.sync_stock.delay("E")
        with django_capture_on_commit_callbacks(execute=True):
            orders.register("eve@example.com")
    assert r.lrange("charged", 0, -1) == [b"E-1"]
    assert r.lrange("receipts", 0, -1) == r.lrange("welcomes", 0, -1) == [b"eve@example.com"]
    assert queued(r, "default") == queued(r, "emails") == 0
