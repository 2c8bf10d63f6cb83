"""Celery: prefork or threads, acks early (its default), results ignored, gossip/mingle off."""

import json
import sys
import time

import celery as _celery
from celery import Celery, group

from .common import BROKER, copies, spread
from .common import stamped as _stamped
from .common import timed as _timed
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


@app.task(name="bench.timed")
def timed(sent, sleep=0.0):
    _timed(sent, sleep)


def send(n, payload="", sleep=0.0):
    for _ in range(n):
        work.delay(payload, sleep)


def send_bulk(n, payload="", sleep=0.0):
    for start in range(0, n, 1000):
        group(work.s(payload, sleep) for _ in range(min(1000, n - start))).apply_async()


def send_stamped():
    stamped.delay(time.time())


def send_timed(sleep, warm=False):
    timed.delay(0 if warm else time.time(), sleep)


def fill(n, queues=None):
    """n waiting no-op tasks: one sent by Celery, then copies of its message with fresh ids pushed 1,000 a
    command (its group() sends ~2,000/s; the bytes stored are the same as its own send's)."""
    with app.pool.acquire(block=True) as connection:
        client = connection.default_channel.client
        for queue, count in spread(n, queues or ["celery"]):
            work.apply_async(("", 0.0), queue=queue)
            template = client.lpop(queue).decode()
            message = json.loads(template)
            ids = [message["headers"]["id"], message["properties"]["delivery_tag"]]
            for start in range(0, count, 1000):
                client.lpush(queue, *copies(template, ids, min(1000, count - start)))


def worker_command(pool, n, queues=None):
    return [sys.executable, "-m", "celery", "-A", "benchmarks.systems.celery_system", "worker", "-P", pool,
            "-c", str(n), "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning"] + (
        ["-Q", ",".join(queues)] if queues else [])
