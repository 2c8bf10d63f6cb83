"""Celery: prefork or threads, acks early (its default), results ignored, gossip/mingle off."""

import sys
import time

import celery as _celery
from celery import Celery, group

from .common import BROKER
from .common import stamped as _stamped
from .common import work as _work

NAME = "celery"
VERSION = _celery.__version__

app = Celery("bench", broker=BROKER)
app.conf.update(task_ignore_result=True, worker_hijack_root_logger=False, broker_connection_retry_on_startup=True,
                worker_prefetch_multiplier=4)


@app.task(name="bench.work")
def work(payload="", sleep=0.0):
    _work(payload, sleep)


@app.task(name="bench.stamped")
def stamped(sent):
    _stamped(sent)


def send(n, payload="", sleep=0.0):
    for _ in range(n):
        work.delay(payload, sleep)


def send_bulk(n, payload="", sleep=0.0):
    for start in range(0, n, 1000):
        group(work.s(payload, sleep) for _ in range(min(1000, n - start))).apply_async()


def send_stamped():
    stamped.delay(time.time())


def worker_command(pool, n):
    return [sys.executable, "-m", "celery", "-A", "benchmarks.systems.celery_system", "worker", "-P", pool,
            "-c", str(n), "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning"]
