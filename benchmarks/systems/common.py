"""The work every system's task does, and the counter that tells the harness how far a run is."""

from __future__ import annotations

import os
import time

import redis

_counter: dict[int, redis.Redis] = {}


def counter() -> redis.Redis:
    pid = os.getpid()
    client = _counter.get(pid)
    if client is None:
        client = _counter[pid] = redis.Redis.from_url(os.environ["BENCH_COUNTER"])
    return client


def work(payload: str = "", sleep: float = 0.0) -> None:
    if sleep:
        time.sleep(sleep)
    counter().incr("done")


def stamped(sent: float) -> None:
    started = time.time()
    pipe = counter().pipeline(transaction=False)
    pipe.rpush("latency", started - sent)
    pipe.incr("done")
    pipe.execute()


BROKER = os.environ["BENCH_BROKER"]  # no default: a benchmark must never touch a Redis it did not start
