"""Tasks the tests run in real worker processes. They leave evidence in Redis (the test's private
server) so that a test can await an event instead of sleeping: a task that blocks announces that it
started, then waits until the test releases it."""

import json
import os

import redis

from jobs import shared_task, task


def evidence() -> redis.Redis:
    # redis-py's 5 s default socket timeout would end the long blocking waits of `block`. A worker
    # that connects as a Redis user confined to jobs' keys (test_acl.py) is told of another URL.
    url = os.environ.get("JOBS_TEST_EVIDENCE_URL") or os.environ["JOBS_BROKER_URL"]
    return redis.Redis.from_url(url, socket_timeout=120)


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


# -- failures, retries, limits (issue 3) ------------------------------------------------------

import signal as _signal  # noqa: E402
import time as _time  # noqa: E402

from jobs import Task, get_task_logger  # noqa: E402
from jobs.exceptions import SoftTimeLimitExceeded  # noqa: E402

log = get_task_logger(__name__)


def runs(name):
    """Count a run of `name` in Redis; returns the count including this run."""
    return evidence().incr(f"runs:{name}")


@task(bind=True, max_retries=5, default_retry_delay=0.1)
def flaky(self, name, failures):
    """Fails `failures` times with IOError, retrying itself, then succeeds."""
    if runs(name) <= failures:
        try:
            raise OSError(f"attempt {self.request.retries + 1} failed")
        except OSError as exc:
            raise self.retry(exc=exc, countdown=0.1) from exc
    return {"retries": self.request.retries}


@task(bind=True, max_retries=2, default_retry_delay=0.1)
def never_works(self, name):
    runs(name)
    try:
        raise PaymentDeclined("still declined")
    except PaymentDeclined as exc:
        raise self.retry(exc=exc) from exc


@task(autoretry_for=(OSError,), retry_backoff=0.1, retry_jitter=False, max_retries=3)
def auto_flaky(name, failures):
    count = runs(name)
    evidence().rpush(f"at:{name}", _time.time())
    if count <= failures:
        raise OSError(f"failure {count}")
    return count


@task(bind=True, max_retries=None, default_retry_delay=0.05)
def retries_forever(self, name, until):
    if runs(name) < until:
        raise self.retry()
    return self.request.retries


@task
def spin(name):
    """Busy in Python until stopped from outside (time limit, terminate)."""
    evidence().rpush(f"started:{name}", os.getpid())
    while True:
        _time.sleep(0.01)


@task(soft_time_limit=0.3)
def spin_and_clean_up(name):
    try:
        spin.run(name)
    except SoftTimeLimitExceeded:
        evidence().rpush(f"cleaned:{name}", 1)
        return "cleaned up"


@task(soft_time_limit=0.3)
def spin_soft(name):
    spin.run(name)


@task(time_limit=0.5)
def spin_hard(name):
    spin.run(name)


@task
def crash(name):
    runs(name)
    os._exit(1)


@task(reject_on_worker_lost=True)
def crash_again(name):
    runs(name)
    os.kill(os.getpid(), _signal.SIGKILL)


@task
def logs_something(text):
    log.warning("task says %s", text)
    return text


class Audited(Task):
    """Hooks that leave a trail in Redis; on_success raises to show it changes nothing."""

    def on_success(self, retval, task_id, args, kwargs):
        evidence().rpush("hooks", f"success:{retval}")
        raise RuntimeError("a broken on_success hook")

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        evidence().rpush("hooks", f"failure:{type(exc).__name__}:{einfo.type.__name__}")

    def on_retry(self, exc, task_id, args, kwargs, einfo):
        evidence().rpush("hooks", f"retry:{exc}")

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        evidence().rpush("hooks", f"after:{status}")


@task(base=Audited, bind=True, max_retries=1, default_retry_delay=0.05)
def audited(self, fail):
    if fail:
        if self.request.retries == 0:
            raise self.retry(exc=ValueError("first"))
        raise ValueError("second")
    return "ok"


from . import receivers  # noqa: E402,F401  (signal receivers the tests check)


@task(bind=True)
def retry_once_later(self):
    if self.request.retries == 0:
        raise self.retry(countdown=3600)
    return "second run"


_chaos_redis = {}


@task(bind=True)
def chaos_task(self, number):
    """For tests/chaos.py: evidence first in a file of this process (outside Redis), with the
    delivery count (1: the message's first delivery; more: delivered again), then in Redis."""
    with open(os.path.join(os.environ["JOBS_CHAOS_DIR"], f"{os.getpid()}.log"), "a") as f:
        f.write(f"{number} {_time.time()} {self.request.delivery_count}\n")
    _time.sleep(0.005)  # a little work, so that kills land mid-task
    client = _chaos_redis.get(os.getpid()) or _chaos_redis.setdefault(os.getpid(), evidence())
    for _ in range(600):  # Redis may be restarting; the harness counts this set to know when to stop
        try:
            client.sadd("chaos:done", number)
            return number
        except redis.ConnectionError:
            _time.sleep(0.1)
    raise RuntimeError("Redis did not come back")


@task
def username_of(user_id):
    """Reads a row: it must be committed before the task runs (delay_on_commit)."""
    from django.contrib.auth.models import User

    return User.objects.get(pk=user_id).username


@task
def collect(values, key):
    """A chord's callback: leaves one line per call on list `key`, so a test can count its runs."""
    import json

    evidence().rpush(key, json.dumps(values))
    return sum(values) if all(isinstance(v, int) for v in values) else len(values)


@task
def fan_out(n):
    """Sends a group from inside a task, and returns its members' ids."""
    from jobs import group

    return [r.id for r in group(add.s(i, i) for i in range(n)).delay()]


@task(bind=True, unique_for=60)
def sync_shop(self, shop_id):
    """A unique task: one run per shop at a time. Blocks like `block` until released."""
    return block.fn(self, f"shop{shop_id}")


def _stamp(key):
    """The start time, by Redis's clock (the one rate limits are kept on), in ms."""
    r = evidence()
    seconds, micros = r.time()
    r.rpush(key, seconds * 1000 + micros // 1000)
    r.rpush(f"{key}:pids", os.getpid())


@task(rate_limit="10/s")
def limited(key):
    _stamp(key)


@task(rate_limit="2/s")
def slow_limited(key):
    _stamp(key)


@task(rate_limit="5/s", rate_limit_key=lambda shop, key: f"shop:{shop}")
def per_shop(shop, key):
    _stamp(f"{key}:{shop}")


@task
def partner_a(key):
    _stamp(key)


@task
def partner_b(key):
    _stamp(key)


@task
async def double_later(x):
    import asyncio

    await asyncio.sleep(0.01)
    return 2 * x


@task
async def count_users():
    """Django's async ORM, inside a task."""
    from django.contrib.auth.models import User

    return await User.objects.acount()


@task(autoretry_for=(ConnectionError,), max_retries=3, retry_backoff=False, default_retry_delay=0,
      retry_kwargs={"countdown": 0})
async def flaky_async(key):
    if evidence().incr(key) < 3:
        raise ConnectionError("the partner API hung up")
    return int(evidence().get(key))


@task(soft_time_limit=0.5)
async def slow_async(key):
    import asyncio

    try:
        await asyncio.sleep(30)
    finally:
        evidence().rpush(key, "cleaned up")


@task(rate_limit="3/s")
def thirds(key):
    """A rate whose interval is not a whole number of ms (333.3...)."""
    _stamp(key)


@task
def sync_connection_was_open():
    """Whether this thread's database connection was left open when this task started."""
    from django.contrib.auth.models import User
    from django.db import connection

    was_open = connection.connection is not None
    User.objects.count()
    return was_open


@task
async def connection_was_open():
    """Whether the async ORM's connection was left open when this task started."""
    from asgiref.sync import sync_to_async
    from django.contrib.auth.models import User
    from django.db import connection

    was_open = await sync_to_async(lambda: connection.connection is not None)()
    await User.objects.acount()
    return was_open


@task
async def overlap(name, seconds):
    """Records when it starts and ends (Redis's clock, ms), so a test can see runs overlap."""
    import asyncio

    r = evidence()
    start = r.time()
    r.rpush("overlap:starts", start[0] * 1000 + start[1] // 1000)
    r.rpush(f"started:{name}", os.getpid())
    await asyncio.sleep(seconds)
    end = r.time()
    r.rpush("overlap:ends", end[0] * 1000 + end[1] // 1000)
    return name


@task(time_limit=1)
async def stuck_in_sync_code(name):
    """An async task that blocks its event loop: no timer on the loop can stop it."""
    import time as time_

    evidence().rpush(f"started:{name}", os.getpid())
    time_.sleep(60)


@task(time_limit=1)
async def holds_the_gil(name):
    """Catastrophic backtracking: one C call that never releases the GIL, so no thread of its
    process runs (not even a watchdog) until it ends."""
    import re

    evidence().rpush(f"started:{name}", os.getpid())
    return bool(re.match(r"(a+)+$", "a" * 40 + "b"))


@task(time_limit=30)
async def blocks_the_loop(name, seconds):
    """Sync code in an async task: the event loop stops for `seconds`."""
    import time as time_

    evidence().rpush(f"started:{name}", os.getpid())
    time_.sleep(seconds)
    return name


# -- hardening (issue 10) ----------------------------------------------------------------------


@task(soft_time_limit=0.2)
def read_until_soft_limit(name, watched_id):
    """Reads a result in a loop (jobs' own Redis calls, on this thread's connection) until the soft
    limit lands, most likely between a command and its reply; then cleans up the way the docs
    invite: one delay() and one more read. Returns what that read saw."""
    from jobs import AsyncResult

    reads = 0
    try:
        while True:
            assert AsyncResult(watched_id).status == "PENDING"
            reads += 1
    except SoftTimeLimitExceeded:
        record.delay(f"cleanup:{name}", reads)
        return AsyncResult(watched_id).status


@task(acks_late=False)
def record_early(key, value):
    """record(), acknowledged as it starts (at most once)."""
    return record.fn(key, value)


@task
def announce_then_nap(url, name, seconds):
    """Says it started on the Redis at `url` (the real one, when the worker talks through a fault
    proxy), then works for `seconds` without touching Redis."""
    client = redis.Redis.from_url(url)
    client.rpush(f"started:{name}", os.getpid())
    client.close()
    _time.sleep(seconds)
    return name


class SlowOnFailure(Task):
    """An on_failure that blocks for 6 s: in the supervisor, after it killed the task's child."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        evidence().rpush("slow-hook:started", type(exc).__name__)
        _time.sleep(6)
        evidence().rpush("slow-hook:ended", os.getpid())


@task(base=SlowOnFailure, time_limit=0.5)
def spin_hard_slow_hook(name):
    spin.run(name)



class SlowOnSuccess(Task):
    def on_success(self, retval, task_id, args, kwargs):
        _time.sleep(1)  # past the task's time limit, in its own process, after it returned


@task(base=SlowOnSuccess, time_limit=0.5)
def quick_with_a_slow_hook(x):
    return x


@task(bind=True)
def my_headers(self):
    return self.request.headers


@task(bind=True)
def stepwise(self, name, steps):
    """Reports progress at each step, says so on progress:<name>, and waits for release:<name>:<i>."""
    r = evidence()
    for i in range(1, steps + 1):
        self.progress(i, steps, message=f"step {i}")
        r.rpush(f"progress:{name}", i)
        r.blpop([f"release:{name}:{i}"], timeout=0)
    return steps


@task(bind=True)
def custom_state(self, name):
    self.update_state(state="RESIZING", meta={"done": 1, "of": 4})
    return block.fn(None, name)


@task(bind=True)
def progress_burst(self, name, n):
    """n progress reports as fast as it can (coalesced by the worker), then waits to be released."""
    for i in range(1, n + 1):
        self.progress(i, n)
    return block.fn(None, name)


@task(bind=True)
def bad_state(self, state, meta):
    """update_state with what it is given: the errors a task gets for a wrong state or meta."""
    try:
        self.update_state(state=state, meta=meta)
    except (ValueError, TypeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return "accepted"


@task
def sign_in(user, password, token=None, **extra):
    """Fails, so that its arguments appear in the result, the history and the log."""
    raise PaymentDeclined(f"sign-in refused for {user}")


@task
def takes_a_blob(blob, small):
    return len(blob)


@task(history=False)
def unrecorded(x):
    return x


@task(bind=True)
def retry_with_reason(self):
    """The first run asks for a retry an hour later, because of an exception of its own."""
    if self.request.retries == 0:
        raise self.retry(exc=PaymentDeclined("the bank said: try later"), countdown=3600)
    return "second run"


@task(bind=True)
def calls_another(self, key):
    """Sends a task from inside a task: the new task's parent is this one."""
    return record.delay(key, self.request.id).id


@task(bind=True, max_retries=1)
def unreachable(self):
    """Retries once with an exception whose argument JSON cannot carry, then fails with it."""
    from urllib.error import URLError

    raise self.retry(exc=URLError(ConnectionRefusedError(111, "Connection refused")), countdown=0.05)


class OutOfStock(Exception):
    pass


@task(throws=(OutOfStock,))
def reserve(item):
    """A task whose OutOfStock is expected (Celery's throws): logged at INFO, without a traceback."""
    raise OutOfStock(f"{item} is sold out")


@task(typing=True)
def typed(x, y=0):
    return x + y


@shared_task
def shared(x):
    return x * 2


@task
def remember(value, key):
    """A link callback: the result of the task it follows comes first."""
    evidence().rpush(key, json.dumps(value))
    return value


@task
def errback_of(request, exc, traceback, key):
    """A link_error callback as Celery calls it in the worker: the failed run's request, its
    exception and its traceback, then its own arguments."""
    evidence().rpush(key, json.dumps([request.id, request.task, type(exc).__name__, str(exc),
                                      "Traceback" in traceback]))


@task
def failed_id(task_id, key):
    """An old-style link_error callback: sent as a task, with the failed task's id."""
    evidence().rpush(key, task_id)


@task
def nested(depth, circular=False):
    """Returns lists nested `depth` deep, or a list that contains itself (MAX_DEPTH, issue 31)."""
    value = []
    if circular:
        value.append(value)
        return value
    for _ in range(depth - 1):
        value = [value]
    return value


@task
def parse_file(name_hex):
    """Fails naming a file whose name is not UTF-8 (given as hex), as code does with f"{path}": the
    message holds a lone surrogate (os.fsdecode), which UTF-8 cannot carry (issue 31)."""
    raise ValueError(f"cannot parse {os.fsdecode(bytes.fromhex(name_hex))}")


def _counted(key, hold_ms):
    """Counts itself in on `key` while it runs (INCR, DECR), recording every count it saw on
    `key:seen` (and on all:seen, over every key), and announces its end on `key:done`."""
    r = evidence()
    r.rpush(f"{key}:seen", r.incr(key))
    r.rpush("all:seen", r.incr("all"))
    evidence().blpop([f"{key}:never"], timeout=hold_ms / 1000)  # holds its slot for hold_ms
    r.decr("all")
    r.decr(key)
    r.rpush(f"{key}:pids", os.getpid())
    r.rpush(f"{key}:done", 1)


@task(concurrency=3)
def at_most_three(key, hold_ms):
    _counted(key, hold_ms)


@task(concurrency=2, concurrency_key=lambda customer, hold_ms: customer)
def two_per_customer(customer, hold_ms):
    _counted(customer, hold_ms)


@task(concurrency=1, concurrency_key=lambda name: name)
def alone(name):
    """One run of `name` at a time: `block`, within a concurrency limit."""
    return block.fn(None, name)


@task(concurrency=1000)
def roomy():
    """A no-op within a concurrency limit it never reaches: what the limit costs (test_costs.py)."""
    return None


@task(bind=True, resumable=True)
def walk(self, total, every, key, hold_at=None):
    """Processes items 0..total-1 from its last checkpoint on, counting each run of an item on hash
    `key` (HINCRBY), with a checkpoint every `every` items, each announced on `key:checkpoints`
    after it was stored; `key:starts` lists where each run started. At checkpoint `hold_at` it
    waits for release:<key>."""
    r = evidence()
    start = self.request.cursor or 0
    r.rpush(f"{key}:starts", start)
    for first in range(start, total, every):
        last = min(first + every, total)
        pipe = r.pipeline(transaction=False)
        for i in range(first, last):
            pipe.hincrby(key, i, 1)
        pipe.execute()
        r.blpop([f"{key}:never"], timeout=0.01)  # about 100 items a 10 ms: slow enough to be killed mid-run
        self.checkpoint(last, current=last, total=total)
        r.rpush(f"{key}:checkpoints", last)
        if last == hold_at:
            r.blpop([f"release:{key}"], timeout=60)
    return total


@task(encrypt=True, bind=True, max_retries=3, default_retry_delay=0.05)
def charge(self, card, amount, note=""):
    """Encrypted (docs/security.md): retries once, then returns a receipt holding the card, so that
    the arguments, a retry's message and the result all carry the secret (tests/acceptance/test_encryption.py)."""
    if runs(f"charge:{self.request.id}") == 1:
        raise self.retry(countdown=0.05)
    return f"receipt: {amount} on {card} ({note})"


@task(bind=True)
def record_id(self, key):
    """Append the task's id to list `key`: a beat run's id names its due time (beat-<entry>-<ms>), so
    a test can tell which periodic runs ran (test_failover.py)."""
    evidence().rpush(key, self.request.id)


@task
def announce_nap_say_who(url, name, seconds):
    """announce_then_nap(), returning the pid that ran it: which of two runs of one task stored its
    result (test_partition.py: a late ack from a worker cut off must not replace the new run's)."""
    announce_then_nap.fn(url, name, seconds)
    return os.getpid()
