"""jobs on a Redis Cluster (BROKER_URL = redis+cluster://...), against a real cluster of three masters
that the module starts (tests/servers.start_cluster: redis-server --cluster-enabled yes, joined by
redis-cli --cluster create) on free loopback ports.

- the URL form: parsed, its passwords hidden, a wrong one refused saying the form expected;
- the core of jobs (worker, beat, results, workflows, the CLI, the console: core_scenarios.py) through
  a seed that does NOT own jobs' slot, so every process follows a MOVED from its first call;
- a plain redis:// URL naming a node that does not own the slot: a clear error naming the URL form;
- the slot moved to another master and back (redis-cli --cluster reshard) while producers send and a
  real `runworker -c 2` drains: no send raises, none is lost or run twice, results stay readable; the
  sends' latency before and during the moves is printed (-s) for docs/operations.md.

The tasks' evidence goes to the session's plain server (fixture r): the test tasks' own keys carry no
hash tag of jobs' slot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from django.test import override_settings

from jobs import AsyncResult
from jobs.engine.errors import ConfigurationError
from jobs.engine.redis.cluster import parse, slot_of
from jobs.engine.redis.connection import redact
from jobs.engine.redis.redirects import NotAClusterURL
from jobs.engine.setup.config import Config
from tests.acceptance import core_scenarios
from tests.servers import ClusterGroup, RunningServer, start_cluster
from tests.testapp import tasks

#: Keys already in jobs' slot when it moves (see the test below).
FILLER = 20_000
FORM = "redis+cluster://[[user]:password@]host1:6379,host2:6379/"


@pytest.fixture(scope="module")
def started_cluster() -> Iterator[ClusterGroup]:
    with start_cluster(masters=3) as started:
        yield started


@pytest.fixture
def cluster(started_cluster: ClusterGroup) -> ClusterGroup:
    started_cluster.flush()
    return started_cluster


def test_the_url_names_the_seeds_and_hides_its_password():
    where = parse("rediss+cluster://app:pw@10.0.0.1:7000,[::1],node-b:7002/?ssl_cert_reqs=required")
    assert where.seeds == (("10.0.0.1", 7000), ("::1", 6379), ("node-b", 7002))
    assert where.node_url.startswith("rediss://app:pw@") and where.node_url.endswith("/0?ssl_cert_reqs=required")
    assert redact("redis+cluster://:pw@h1:7000,h2:7001/?password=pw2") == \
        "redis+cluster://:***@h1:7000,h2:7001/?password=***"
    Config(broker_url="redis+cluster://127.0.0.1:7000,127.0.0.1:7001/")  # accepted; connects nowhere


@pytest.mark.parametrize("url", [
    "redis+cluster:///",                       # no node
    "redis+cluster://127.0.0.1:port/",         # a port that is no number
    "redis+cluster://127.0.0.1:7000/3",        # a db other than 0
    "redis+cluster://:s3cret@127.0.0.1:7000/1",  # the password must not be shown
])
def test_a_cluster_url_in_another_form_says_the_form_expected(url):
    with pytest.raises(ConfigurationError) as caught:
        Config(broker_url=url)
    assert FORM in str(caught.value) and "s3cret" not in str(caught.value)


def _not_owner(cluster: ClusterGroup, prefix: str) -> RunningServer:
    owner = cluster.owner_of(slot_of("{" + prefix + "}"))
    return next(n for n in cluster.masters() if n is not owner)


@pytest.mark.slow
def test_the_core_of_jobs_runs_through_a_seed_that_does_not_own_the_slot(cluster, start_worker, start_beat,
                                                                           test_database_env, redis_server):
    seed = _not_owner(cluster, "jobs")
    worker, beat = core_scenarios.run(cluster.url(seed), redis_server.url, start_worker, start_beat,
                                      test_database_env)
    for process in (worker, beat):
        assert "Redis call failed" not in process.output, process.output


def test_a_plain_url_to_a_node_without_the_slot_says_to_use_the_cluster_form(cluster):
    seed = _not_owner(cluster, "jobs")
    with override_settings(JOBS={"BROKER_URL": seed.url, "ENQUEUE_TIMEOUT": 2}):
        with pytest.raises(NotAClusterURL) as caught:
            tasks.add.delay(1, 2)
    assert f"'redis+cluster://{seed.host}:{seed.port}/'" in str(caught.value), caught.value
    assert cluster.client(cluster.owner_of(slot_of("{jobs}"))).dbsize() == 0  # nothing was sent


class Producer(threading.Thread):
    """Sends tasks.record("ran", n) for its share of n, at a steady pace, timing each delay()."""

    def __init__(self, numbers: range) -> None:
        super().__init__(daemon=True)
        self.numbers = numbers
        self.sent: list[tuple[int, str, float, float]] = []  # n, task id, started (monotonic), seconds
        self.errors: list[str] = []

    def run(self) -> None:
        for n in self.numbers:
            started = time.monotonic()
            try:
                task_id = tasks.record.delay("ran", n).id
            except Exception as exc:
                self.errors.append(f"{n}: {type(exc).__name__}: {exc}")
                continue
            self.sent.append((n, task_id, started, time.monotonic() - started))
            time.sleep(0.004)  # a steady load, not a flood that would only measure a backlog


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


@pytest.mark.slow
def test_moving_the_slot_under_load_loses_and_doubles_nothing(cluster, start_worker, r, redis_server):
    """2,000 sends from two threads while a worker drains; jobs' slot goes to another master at about a
    quarter of them and back at about two thirds, by redis-cli --cluster reshard. The at-least-once
    bound: a task runs twice only if its lease runs out while it runs (LEASE_SECONDS, not reached by
    these millisecond tasks) or a worker dies; neither happens here, so the bound is 0 duplicates."""
    home = cluster.masters()[1]
    prefix = cluster.lowest_slot_prefix(home)  # redis-cli reshard moves a master's lowest slot first
    slot = slot_of("{" + prefix + "}")
    # Moved there, the slot is that master's lowest too, so that reshard() can bring it back.
    away = next(n for n in cluster.masters() if min(cluster.slots_of(n)) > slot)
    url = cluster.url(away)
    # Other keys of the site (results of earlier tasks, say) so that moving the slot takes a while, as a
    # site's slot would: the keys move 10 per MIGRATE, and multi-key sends meanwhile get TRYAGAIN.
    filler = cluster.client(home).pipeline(transaction=False)
    for i in range(FILLER):
        filler.set(f"{{{prefix}}}:filler:{i}", "x" * 100)
    filler.execute()
    for node in cluster.masters():
        cluster.client(node).config_resetstat()
    settings = {"KEY_PREFIX": prefix}
    worker = start_worker("-c", "2", settings=settings,
                          env={"JOBS_BROKER_URL": url, "JOBS_TEST_EVIDENCE_URL": redis_server.url})
    total = 2000
    moves: list[tuple[float, float]] = []
    with override_settings(JOBS={"BROKER_URL": url, "KEY_PREFIX": prefix, "ENQUEUE_TIMEOUT": 5}):
        producers = [Producer(range(i, total, 2)) for i in range(2)]
        for producer in producers:
            producer.start()
        for target, at in ((away, total // 4), (home, 2 * total // 3)):
            while sum(len(p.sent) + len(p.errors) for p in producers) < at:
                time.sleep(0.01)
            started = time.monotonic()
            cluster.reshard(slot, target)
            moves.append((started, time.monotonic()))
        for producer in producers:
            producer.join(120)
        sent = [s for p in producers for s in p.sent]
        errors = [e for p in producers for e in p.errors]
        deadline = time.monotonic() + 60
        while r.llen("ran") < len(sent) and time.monotonic() < deadline:
            time.sleep(0.1)
        ran = [int(v.split(b":")[0]) for v in r.lrange("ran", 0, -1)]
        readable = sum(AsyncResult(task_id).get(timeout=10) == n for n, task_id, *_ in sent[::20])

    redirected: dict[str, int] = {}
    for node in cluster.masters():
        for name, stat in cluster.client(node).info("errorstats").items():
            code = name.removeprefix("errorstat_")  # not ERR: Redis 7.0 refuses redis-py's CLIENT SETINFO
            if code in ("MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "NOSCRIPT"):
                redirected[code] = redirected.get(code, 0) + int(stat["count"])

    def during(started: float) -> bool:  # sent while a move was under way, or within 0.5 s after it
        return any(a <= started <= b + 0.5 for a, b in moves)
    steady = [s[3] for s in sent if s[2] < moves[0][0]]
    moving = [s[3] for s in sent if during(s[2])]
    lost = {s[0] for s in sent} - set(ran)
    print(f"\nRedis Cluster, slot {slot} moved twice under load (redis-cli --cluster reshard, "
          f"{', '.join(f'{b - a:.2f} s' for a, b in moves)}): {len(sent)} sends acknowledged, {len(errors)} raised, "
          f"{len(lost)} lost, {len(ran) - len(set(ran))} run twice; results read back: {readable} of "
          f"{len(sent[::20])}; the cluster answered {redirected}\n"
          f"  send latency  steady: p50 {_percentile(steady, .5) * 1e3:.2f} ms, p99 "
          f"{_percentile(steady, .99) * 1e3:.2f} ms, max {max(steady) * 1e3:.2f} ms ({len(steady)} sends)\n"
          f"  send latency  moving: p50 {_percentile(moving, .5) * 1e3:.2f} ms, p99 "
          f"{_percentile(moving, .99) * 1e3:.2f} ms, max {max(moving or [0]) * 1e3:.2f} ms ({len(moving)} sends)")
    assert errors == []
    assert not lost, f"acknowledged but never run: {sorted(lost)[:20]}"
    assert len(ran) == len(set(ran)), "a task ran twice"
    assert readable == len(sent[::20])
    assert cluster.owner_of(slot) is home
    assert "Redis call failed" not in worker.output, worker.output
    assert "Traceback" not in worker.output, worker.output
