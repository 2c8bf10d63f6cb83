"""Huey: a process or thread pool of consumers; at most once (no leases), results stored (its default)."""

import sys
import time

import huey as _huey
from huey import RedisHuey

from .common import BROKER, copies
from .common import stamped as _stamped
from .common import timed as _timed
from .common import work as _work

NAME = "huey"
VERSION = _huey.__version__

huey = RedisHuey("bench", url=BROKER)


@huey.task()
def work(payload="", sleep=0.0):
    _work(payload, sleep)


@huey.task()
def stamped(sent):
    _stamped(sent)


@huey.task()
def timed(sent, sleep=0.0):
    _timed(sent, sleep)


def send(n, payload="", sleep=0.0):
    for _ in range(n):
        work(payload, sleep)


send_bulk = None


def send_stamped():
    stamped(time.time())


def send_timed(sleep, warm=False):
    timed(0 if warm else time.time(), sleep)


def fill(n, queues=None):
    """n waiting no-op tasks: one sent by Huey, then copies of its pickled message with fresh ids pushed
    1,000 a command (it has no bulk API; the bytes stored are the same as its own send's)."""
    if queues:
        raise ValueError("a Huey consumer serves one queue")
    key = huey.storage.queue_key
    handle = work("", 0.0)
    template = huey.storage.conn.lpop(key)
    for start in range(0, n, 1000):
        huey.storage.conn.lpush(key, *copies(template, [handle.id], min(1000, n - start)))


def worker_command(pool, n, queues=None):
    if queues:
        return None  # one Huey instance is one queue, and a consumer runs one instance
    kind = {"prefork": "process", "threads": "thread"}[pool]
    return [sys.executable, "-m", "huey.bin.huey_consumer", "benchmarks.systems.huey_system.huey", "-k", kind,
            "-w", str(n), "-q"]
