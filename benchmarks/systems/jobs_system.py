"""jobs: defaults (acks late with leases, results stored), prefetch as the harness asks."""

import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.systems.jobsbench.settings")

import django  # noqa: E402

django.setup()

import jobs as _jobs  # noqa: E402
from jobs import enqueue_many  # noqa: E402

from .jobsbench.tasks import stamped, work  # noqa: E402

NAME = "jobs"
VERSION = _jobs.__version__


def send(n, payload="", sleep=0.0):
    for _ in range(n):
        work.delay(payload, sleep)


def send_bulk(n, payload="", sleep=0.0):
    for start in range(0, n, 1000):
        enqueue_many((work, (payload, sleep), {}) for _ in range(min(1000, n - start)))


def send_stamped():
    stamped.delay(time.time())


def worker_command(pool, n):
    manage = os.path.join(os.path.dirname(__file__), "..", "..", "manage.py")
    # WORKER_PREFETCH comes from $BENCH_JOBS_PREFETCH in the worker's own settings (jobsbench).
    return [sys.executable, manage, "runworker", "-P", pool, "-c", str(n), "-l", "warning"]


def prepare():
    """The history's table, in the benchmark's fresh database (the harness runs this once)."""
    from django.conf import settings
    from django.core.management import call_command

    if settings.DATABASES:
        call_command("migrate", "jobs", verbosity=0)
