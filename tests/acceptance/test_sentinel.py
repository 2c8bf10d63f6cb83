"""jobs through Redis Sentinel (BROKER_URL = redis+sentinel://...), against real servers: a master, a
replica and three sentinels on free loopback ports, none on 6379 (a connection that silently fell back
to localhost:6379, as redis-py's SentinelManagedConnection does on the send_packed_command path, would
find no server of this test there, or the wrong one).

- the core of jobs (worker, beat, results, workflows, the CLI, the console: core_scenarios.py) runs
  through the sentinels;
- a planned failover (SENTINEL FAILOVER), and a kill -9 of the master, while a producer sends and a
  real `runworker` drains: both follow the new master without a restart; every send acknowledged by
  delay() is run; the time until work flows again is printed (-s) for docs/operations.md;
- a BROKER_URL in a wrong form is refused, saying the form expected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis
from django.test import override_settings

from jobs.engine.errors import ConfigurationError
from jobs.engine.redis.connection import ConnectionFactory, Link, redact
from jobs.engine.redis.sentinel import parse
from jobs.engine.setup.config import Config
from tests.acceptance import core_scenarios
from tests.servers import SentinelGroup, make_certificates, start_sentinel_group
from tests.testapp import tasks

FORM = "redis+sentinel://[[user]:password@]host1:26379,host2:26379/mymaster/0"


@pytest.fixture
def group() -> Iterator[SentinelGroup]:
    with start_sentinel_group() as started:
        assert 6379 not in [s.port for s in (started.master, started.replica, *started.sentinels)]
        yield started


@pytest.mark.parametrize("url", [
    "redis+sentinel://127.0.0.1:26379/",                 # no service
    "redis+sentinel:///mymaster/0",                      # no sentinel
    "redis+sentinel://127.0.0.1:port/mymaster/0",        # a port that is no number
    "redis+sentinel://127.0.0.1:26379/mymaster/zero",    # a db that is no number
    "redis+sentinel://127.0.0.1:26379/mymaster/0/1",     # more after the db
    "redis+sentinel://:s3cret@127.0.0.1:26379",          # the password must not be shown
])
def test_a_sentinel_url_in_another_form_says_the_form_expected(url):
    with pytest.raises(ConfigurationError) as caught:
        Config(broker_url=url)
    assert FORM in str(caught.value) and "sentinel_password" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_the_url_names_sentinels_service_db_and_the_sentinels_own_password():
    where = parse("rediss+sentinel://app:pw@10.0.0.1:26380,[::1],sentinel-b/orders/3"
                  "?sentinel_password=spw&ssl_cert_reqs=required")
    assert where.sentinels == (("10.0.0.1", 26380), ("::1", 26379), ("sentinel-b", 26379))
    assert (where.service, where.username, where.password) == ("orders", None, "spw")
    assert where.master_url.startswith("rediss://app:pw@") and "/3?ssl_cert_reqs=required" in where.master_url
    assert "spw" not in where.master_url

    factory = ConnectionFactory("rediss+sentinel://:pw@127.0.0.1:1/orders/0?sentinel_password=spw")
    assert factory.master is not None
    sentinel_kwargs = factory.master.sentinel.sentinel_kwargs
    assert sentinel_kwargs["ssl"] is True and sentinel_kwargs["password"] == "spw"  # TLS to the sentinels too
    assert redact("redis+sentinel://:pw@h1:26379,h2:26379/m/0?sentinel_password=spw") == \
        "redis+sentinel://:***@h1:26379,h2:26379/m/0?sentinel_password=***"


@pytest.fixture
def tls_group(tmp_path) -> Iterator[SentinelGroup]:
    """The same over TLS only: the sentinels, the master and the replica (rediss+sentinel://)."""
    with start_sentinel_group(tls=make_certificates(tmp_path)) as started:
        yield started


@pytest.mark.parametrize("over", ["tcp", "tls"])
def test_each_new_connection_goes_to_the_master_the_sentinels_name_now(over, request):
    group = request.getfixturevalue("group" if over == "tcp" else "tls_group")
    factory = ConnectionFactory(group.url())
    link = Link(factory)
    assert link.call("SET", "where", "first") in (b"OK", True)
    assert link.conn.port == group.master.port
    old = group.master
    new = group.failover()
    group.wait_demoted(old)
    # The old master, demoted, answers READONLY (or Sentinel closed the connection): either way the
    # call fails once, the connection is dropped, and the next call reaches the new master.
    try:
        link.call("SET", "where", "second")
    except (redis.ResponseError, redis.ConnectionError, ConnectionError):
        assert link.conn is None
        assert link.call("SET", "where", "second") in (b"OK", True)
    assert new is not old and link.conn.port == new.port
    assert group.client(new).get("where") == b"second"
    assert isinstance(link.conn, redis.SSLConnection) == (over == "tls")


@pytest.mark.slow
def test_the_core_of_jobs_runs_through_sentinel(group, start_worker, start_beat, test_database_env):
    worker, beat = core_scenarios.run(group.url(), group.master.url, start_worker, start_beat, test_database_env)
    for process in (worker, beat):
        assert "Redis call failed" not in process.output, process.output


class Producer(threading.Thread):
    """Sends tasks.record("ran", n) for n = 0, 1, ... until stopped, at a steady pace, and keeps the
    numbers delay() acknowledged (it returned) apart from those it raised for."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.acknowledged: list[int] = []
        self.ids: list[str] = []  # the task id of each acknowledged send, in the same order
        self.failed: list[int] = []
        self.stop = threading.Event()
        self.errors: list[str] = []

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            try:
                self.ids.append(tasks.record.delay("ran", n).id)
                self.acknowledged.append(n)
            except Exception as exc:  # BrokerUnavailable mostly: during the switch
                self.failed.append(n)
                self.errors.append(f"{type(exc).__name__}: {exc}")
            n += 1
            self.stop.wait(0.005)  # a steady load, not a flood that would only measure a backlog

    def wait_acknowledged(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) < count:
            assert time.monotonic() < deadline, f"{len(self.acknowledged)} of {count} sends acknowledged"
            self.stop.wait(0.01)


def probe_until_it_runs(timeout: float = 60.0) -> None:
    """Send a task from a new thread (a new connection, so the master Sentinel names now) and read its
    result; again while the send fails (no master known during the switch)."""
    deadline = time.monotonic() + timeout
    outcome: list[BaseException | int] = []

    def once() -> None:
        try:
            result = tasks.add.apply_async((2, 2), queue="other")
            outcome.append(result.get(timeout=max(1.0, deadline - time.monotonic())))
        except Exception as exc:
            outcome.append(exc)

    while time.monotonic() < deadline:
        thread = threading.Thread(target=once)
        thread.start()
        thread.join()
        if outcome[-1] == 4:
            return
    raise AssertionError(f"no task ran within {timeout} s of the switch: {outcome[-1]!r}")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SENTINEL FAILOVER", "kill -9"])
def test_a_worker_and_a_producer_follow_a_failover(how, group, start_worker, redis_server, r):
    """A planned switch (the replica in sync, the old master still up: Sentinel demotes it ~10 s later;
    each process leaves it at once on the sentinels' +switch-master, sentinel.py) and a crash of the
    master (every connection breaks at once; no master for a second or two until the sentinels agree)."""
    url = group.url()
    # The evidence (what ran) goes to the session's own server, which does not fail over.
    worker = start_worker("-c", "2", "-Q", "default,other",
                          env={"JOBS_BROKER_URL": url, "JOBS_TEST_EVIDENCE_URL": redis_server.url})
    old = group.master
    with override_settings(JOBS={"BROKER_URL": url, "ENQUEUE_TIMEOUT": 5}):
        assert tasks.add.delay(1, 1).get(timeout=20) == 2
        producer = Producer()
        producer.start()
        try:
            producer.wait_acknowledged(100)
            before = set(producer.acknowledged)
            started = time.monotonic()
            if how == "kill -9":
                old.stop()
                new = group.wait_new_master(old.port)
            else:
                new = group.failover()
            switched = time.monotonic() - started
            probe_until_it_runs()
            flowing = time.monotonic() - started
            # Acknowledged between the fault and work flowing again: the loss window of asynchronous
            # replication (ENQUEUE_REPLICAS = 0 here), where a send the old master took just before the
            # switch may be gone (docs/operations.md; test_failover.py shows ENQUEUE_REPLICAS closes it).
            in_window = set(producer.acknowledged) - before
            if how != "kill -9":
                group.wait_demoted(old)
            demoted = time.monotonic() - started
            producer.wait_acknowledged(len(producer.acknowledged) + 100)
        finally:
            producer.stop.set()
            producer.join(30)

        acknowledged = set(producer.acknowledged)
        deadline = time.monotonic() + 60
        while True:  # until every acknowledged send has run, or the deadline: the count is the finding
            ran = [int(v.split(b":")[0]) for v in r.lrange("ran", 0, -1)]
            if acknowledged <= set(ran) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    lost = acknowledged - set(ran)
    duplicated = len(ran) - len(set(ran))
    print(f"\nSentinel, {how}: the sentinels named the new master after {switched:.2f} s; a task sent on a new "
          f"connection ran and its result was read after {flowing:.2f} s; the old master was gone or a replica "
          f"after {demoted:.2f} s; {len(acknowledged)} sends acknowledged, {len(producer.failed)} refused "
          f"during the switch, {len(lost)} lost, {duplicated} run twice")
    assert not lost - in_window, f"acknowledged outside the failover's window but never run: {sorted(lost)[:20]}"
    assert worker.proc.poll() is None  # the same process, no restart
    if how == "SENTINEL FAILOVER":  # the worker moved on +switch-master, not at the old master's demotion
        assert flowing + 5 < demoted, "the processes stayed on the old master until Sentinel demoted it"
    assert new is group.current_master() and new is not old
