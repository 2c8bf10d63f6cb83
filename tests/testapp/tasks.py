"""Tasks the tests run in real worker processes. They leave evidence in Redis (the test's private
server) so that a test can await an event instead of sleeping: a task that blocks announces that it
started, then waits until the test releases it."""

import os

import redis

from jobs import task


def evidence() -> redis.Redis:
    return redis.Redis.from_url(os.environ["JOBS_BROKER_URL"])


class PaymentDeclined(Exception):
    pass


@task
def add(x, y):
    return x + y


@task
def echo(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}


@task
def fail(message):
    raise PaymentDeclined(message)


@task
def fail_builtin(message):
    raise ValueError(message)


@task
def returns_a_set():
    return {1, 2}


@task(queue="emails", name="shop.send_welcome")
def send_welcome(user_id):
    evidence().rpush("sent", f"welcome:{user_id}")
    return user_id


@task(ignore_result=True)
def ignored(x):
    evidence().rpush("ignored", x)
    return x


@task(bind=True)
def whoami(self):
    r = self.request
    return {"id": r.id, "task": r.task, "queue": r.queue, "retries": r.retries,
            "delivery_count": r.delivery_count, "hostname": r.hostname, "eta": r.eta}


@task
def record(key, value):
    """Append `value` and the pid that ran it to list `key`."""
    evidence().rpush(key, f"{value}:{os.getpid()}")
    return value


@task(bind=True)
def block(self, name):
    """Announce the start on started:<name> (pid) and deliveries:<name> (delivery count), then wait
    until the test pushes to release:<name>."""
    r = evidence()
    r.rpush(f"deliveries:{name}", self.request.delivery_count if self else 0)
    r.rpush(f"started:{name}", os.getpid())
    r.blpop([f"release:{name}"], timeout=0)
    r.rpush(f"finished:{name}", os.getpid())
    return name


@task(acks_late=False)
def block_early_ack(name):
    return block.fn(None, name)


@task(track_started=True)
def tracked(name):
    return block.fn(None, name)


@task
def noop():
    return None


@task
def nap(seconds):
    """Work that takes a while (the task's own duration, not a synchronisation)."""
    import time

    time.sleep(seconds)
    return seconds


@task
def exits():
    raise SystemExit(3)


@task(serializer="pickle")
def returns_unpicklable():
    evidence().rpush("unpicklable-runs", 1)
    return lambda: None


@task(ignore_result=True, acks_late=False)
def fire_and_forget(key):
    evidence().rpush(key, 1)
