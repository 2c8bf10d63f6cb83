import json
import os
import time

from jobs import task

from ..common import counter as _counter
from ..common import stamped as _stamped
from ..common import timed as _timed
from ..common import work as _work


@task(name="bench.work")
def work(payload="", sleep=0.0):
    _work(payload, sleep)


@task(name="bench.noop")
def noop():
    """Nothing at all: benchmarks/consumer_cpu.py measures what jobs costs around a task."""


@task(name="bench.stamped")
def stamped(sent):
    _stamped(sent)


@task(name="bench.timed")
def timed(sent, sleep=0.0):
    _timed(sent, sleep)


if os.environ.get("BENCH_IDLE_PROBE") == "1":  # benchmarks/idle_latency.py --probe
    from . import probe

    probe.install()


@task(name="bench.probed")
def probed(sent, i):
    """The idle-latency benchmark's task (benchmarks/idle_latency.py): how long since it was sent."""
    started = time.time()
    client = _counter()
    if i >= 0:
        row = {"total": started - sent}
        if os.environ.get("BENCH_IDLE_PROBE") == "1":
            row.update(probe.split(sent, started))
        client.rpush("samples", json.dumps(row))
    client.incr("done")
