"""The work every system's task does, and the counter that tells the harness how far a run is."""

from __future__ import annotations

import os
import time
import uuid

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


def timed(sent: float, sleep: float = 0.0) -> None:
    """A task of the long/short mix and of the time to a first task: it records when it started and,
    if it is a short one, how long it waited since it was sent; then when it ended. `sent` 0 marks a
    warm-up task, only counted."""
    started = time.time()
    client = counter()
    if sent:
        pipe = client.pipeline(transaction=False)
        pipe.rpush("starts", started)
        if sleep < 0.5:
            pipe.rpush("waits", started - sent)
        pipe.execute()
    if sleep:
        time.sleep(sleep)
    pipe = client.pipeline(transaction=False)
    pipe.rpush("ends", time.time())
    pipe.incr("done")
    pipe.execute()


def queue_names() -> list[str] | None:
    """The queues a fill spreads its tasks over and a worker consumes ($BENCH_QUEUES, comma-separated),
    or None: the system's default queue."""
    names = os.environ.get("BENCH_QUEUES")
    return names.split(",") if names else None


def spread(n: int, queues: list[str]) -> list[tuple[str, int]]:
    """n tasks over the queues, as even as can be: [(queue, count), ...]."""
    return [(q, n // len(queues) + (i < n % len(queues))) for i, q in enumerate(queues)]


def copies(template: str | bytes, ids: list[str], n: int) -> list[str | bytes]:
    """n copies of a message the system itself encoded, each of its ids replaced by a fresh one
    (same length, so a pickle stays valid): the bytes a real send of each would store."""
    if isinstance(template, bytes):
        return [text.encode("latin-1") for text in copies(template.decode("latin-1"), ids, n)]
    out: list[str | bytes] = []
    for _ in range(n):
        text = template
        for old in ids:
            text = text.replace(old, str(uuid.uuid4()))
        out.append(text)
    return out


BROKER = os.environ["BENCH_BROKER"]  # no default: a benchmark must never touch a Redis it did not start
