"""RQ: a worker pool of SimpleWorkers (the forking Worker runs ~130 jobs/s); no thread pool."""

import sys
import time

import redis
import rq as _rq
from rq import Queue

from .common import BROKER, spread
from .common import stamped as _stamped
from .common import timed as _timed
from .common import work as _work

NAME = "rq"
VERSION = _rq.__version__

connection = redis.Redis.from_url(BROKER)
queue = Queue("default", connection=connection)


def work(payload="", sleep=0.0):
    _work(payload, sleep)


def stamped(sent):
    _stamped(sent)


def timed(sent, sleep=0.0):
    _timed(sent, sleep)


def send(n, payload="", sleep=0.0):
    for _ in range(n):
        queue.enqueue(work, payload, sleep)


def send_bulk(n, payload="", sleep=0.0):
    for start in range(0, n, 1000):
        queue.enqueue_many([Queue.prepare_data(work, (payload, sleep)) for _ in range(min(1000, n - start))])


def send_stamped():
    queue.enqueue(stamped, time.time())


def send_timed(sleep, warm=False):
    queue.enqueue(timed, 0 if warm else time.time(), sleep)


def fill(n, queues=None):
    """n waiting no-op tasks through its bulk API (enqueue_many, 1,000 a pipeline)."""
    for name, count in spread(n, queues or ["default"]):
        target = Queue(name, connection=connection)
        for start in range(0, count, 1000):
            target.enqueue_many([Queue.prepare_data(work, ("", 0.0)) for _ in range(min(1000, count - start))])


def worker_command(pool, n, queues=None):
    if pool != "prefork":
        return None
    # -q: quiet; the queues are the last arguments
    return [sys.executable, "-m", "rq.cli", "worker-pool", "-n", str(n), "-w", "rq.worker.SimpleWorker",
            "-u", BROKER, "-q", *(queues or ["default"])]
