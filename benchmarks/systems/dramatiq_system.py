"""Dramatiq: processes x threads; acks late with its own heartbeats; no results backend."""

import sys
import time
import uuid

import dramatiq as _dramatiq
from dramatiq.brokers.redis import RedisBroker

from .common import BROKER, queue_names, spread
from .common import stamped as _stamped
from .common import timed as _timed
from .common import work as _work

NAME = "dramatiq"
VERSION = _dramatiq.__version__

broker = RedisBroker(url=BROKER)
_dramatiq.set_broker(broker)
for _name in queue_names() or []:  # the many-queues workload's, in its client and worker only
    broker.declare_queue(_name)


@_dramatiq.actor(max_retries=0)
def work(payload="", sleep=0.0):
    _work(payload, sleep)


@_dramatiq.actor(max_retries=0)
def stamped(sent):
    _stamped(sent)


@_dramatiq.actor(max_retries=0)
def timed(sent, sleep=0.0):
    _timed(sent, sleep)


def send(n, payload="", sleep=0.0):
    for _ in range(n):
        work.send(payload, sleep)


send_bulk = None


def send_stamped():
    stamped.send(time.time())


def send_timed(sleep, warm=False):
    timed.send(0 if warm else time.time(), sleep)


def fill(n, queues=None):
    """n waiting no-op tasks, each a message Dramatiq built (its own ids), stored as its enqueue script
    stores them (HSET of the message, RPUSH of its id), 1,000 a pipeline: it has no bulk API."""
    for queue, count in spread(n, queues or ["default"]):
        for start in range(0, count, 1000):
            pipe = broker.client.pipeline(transaction=False)
            for _ in range(min(1000, count - start)):
                message = work.message("", 0.0).copy(queue_name=queue, options={"redis_message_id": str(uuid.uuid4())})
                pipe.hset(f"dramatiq:{queue}.msgs", message.options["redis_message_id"], message.encode())
                pipe.rpush(f"dramatiq:{queue}", message.options["redis_message_id"])
            pipe.execute()


def worker_command(pool, n, queues=None):
    processes, threads = (n, 1) if pool == "prefork" else (1, n)
    return [sys.executable, "-m", "dramatiq", "benchmarks.systems.dramatiq_system", "--processes", str(processes),
            "--threads", str(threads)] + (["--queues", *queues] if queues else [])
