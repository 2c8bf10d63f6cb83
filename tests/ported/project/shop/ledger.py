"""Where the shop's tasks write down what they did: a Redis list per subject, so that whoever
watches (the tests) can wait on it with BLPOP."""

import os

import redis


def ledger():
    return redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), socket_timeout=30)


def note(subject, what):
    ledger().rpush(subject, what)
