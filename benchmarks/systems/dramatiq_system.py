"""Dramatiq: processes x threads; acks late with its own heartbeats; no results backend."""

import sys
import time

import dramatiq as _dramatiq
from dramatiq.brokers.redis import RedisBroker

from .common import BROKER
from .common import stamped as _stamped
from .common import work as _work

NAME = "dramatiq"
VERSION = _dramatiq.__version__

broker = RedisBroker(url=BROKER)
_dramatiq.set_broker(broker)


@_dramatiq.actor(max_retries=0)
def work(payload="", sleep=0.0):
    _work(payload, sleep)


@_dramatiq.actor(max_retries=0)
def stamped(sent):
    _stamped(sent)


def send(n, payload="", sleep=0.0):
    for _ in range(n):
        work.send(payload, sleep)


send_bulk = None


def send_stamped():
    stamped.send(time.time())


def worker_command(pool, n):
    processes, threads = (n, 1) if pool == "prefork" else (1, n)
    return [sys.executable, "-m", "dramatiq", "benchmarks.systems.dramatiq_system", "--processes", str(processes),
            "--threads", str(threads)]
