"""Huey: a process or thread pool of consumers; at most once (no leases), results stored (its default)."""

import sys
import time

import huey as _huey
from huey import RedisHuey

from .common import BROKER
from .common import stamped as _stamped
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


def send(n, payload="", sleep=0.0):
    for _ in range(n):
        work(payload, sleep)


send_bulk = None


def send_stamped():
    stamped(time.time())


def worker_command(pool, n):
    kind = {"prefork": "process", "threads": "thread"}[pool]
    return [sys.executable, "-m", "huey.bin.huey_consumer", "benchmarks.systems.huey_system.huey", "-k", kind,
            "-w", str(n), "-q"]
