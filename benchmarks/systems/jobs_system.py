"""jobs: defaults (acks late with leases, results stored), prefetch as the harness asks."""

import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.systems.jobsbench.settings")

import django  # noqa: E402

django.setup()

import jobs as _jobs  # noqa: E402
from jobs import enqueue_many  # noqa: E402

from .common import spread  # noqa: E402
from .jobsbench.tasks import stamped, timed, work  # noqa: E402

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


def send_timed(sleep, warm=False):
    timed.delay(0 if warm else time.time(), sleep)


def fill(n, queues=None):
    """n waiting no-op tasks, through its bulk API (1,000 a round trip), spread over the queues."""
    for queue, count in spread(n, queues or [None]):
        signature = work.s("", 0.0) if queue is None else work.s("", 0.0).set(queue=queue)
        for start in range(0, count, 1000):
            enqueue_many([signature] * min(1000, count - start))


def worker_command(pool, n, queues=None):
    manage = os.path.join(os.path.dirname(__file__), "..", "..", "manage.py")
    # WORKER_PREFETCH comes from $BENCH_JOBS_PREFETCH in the worker's own settings (jobsbench).
    return [sys.executable, manage, "runworker", "-P", pool, "-c", str(n), "-l", "warning"] + (
        ["-Q", ",".join(queues)] if queues else [])


def prepare():
    """The history's table, in the benchmark's fresh database (the harness runs this once)."""
    from django.conf import settings
    from django.core.management import call_command

    if settings.DATABASES:
        call_command("migrate", "jobs", verbosity=0)
