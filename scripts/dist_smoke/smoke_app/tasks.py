"""The smoke's tasks: each says it ran by a push to a Redis list, which smoke.py awaits."""

import os

import redis

from jobs import task


def _redis() -> redis.Redis:
    return redis.Redis.from_url(os.environ["JOBS_BROKER_URL"])


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def hold() -> str:
    """Runs until smoke.py has looked at the Running page (smoke:release), so the page has a task."""
    client = _redis()
    client.rpush("smoke:held", "1")
    if client.blpop(["smoke:release"], timeout=60) is None:
        raise TimeoutError("smoke.py never released the held task")
    return "released"


@task
def tick(label: str) -> None:
    _redis().rpush("smoke:ticks", label)
