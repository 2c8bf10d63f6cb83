"""RQ: a worker pool of SimpleWorkers (the forking Worker runs ~130 jobs/s); no thread pool."""

import sys
import time

import redis
import rq as _rq
from rq import Queue

from .common import BROKER
from .common import stamped as _stamped
from .common import work as _work

NAME = "rq"
VERSION = _rq.__version__

queue = Queue("default", connection=redis.Redis.from_url(BROKER))


def work(payload="", sleep=0.0):
    _work(payload, sleep)


def stamped(sent):
    _stamped(sent)


def send(n, payload="", sleep=0.0):
    for _ in range(n):
        queue.enqueue(work, payload, sleep)


def send_bulk(n, payload="", sleep=0.0):
    for start in range(0, n, 1000):
        queue.enqueue_many([Queue.prepare_data(work, (payload, sleep)) for _ in range(min(1000, n - start))])


def send_stamped():
    queue.enqueue(stamped, time.time())


def worker_command(pool, n):
    if pool != "prefork":
        return None
    return [sys.executable, "-m", "rq.cli", "worker-pool", "-n", str(n), "-w", "rq.worker.SimpleWorker",
            "-u", BROKER, "-q", "default"]  # -q: quiet; the queue is the last argument
