"""What a Sentinel failover costs jobs, measured (issue 25, item 3): a real master, two replicas and
three sentinels (servers.start_sentinel_group; two replicas so that one is left to confirm writes once
the other is promoted), a producer thread sending, two real `runworker` processes, a `runbeat`
sending a periodic task every second, and one fault on the master:

- kill -9: the master gone; a replica, in sync, promoted;
- SIGSTOP: a stalled master, stopped until the sentinels promoted a replica, then continued: it
  still believes it is the master (and takes writes on the connections it has) until Sentinel
  demotes it;
- DEBUG SLEEP: the same stall inside Redis (a slow command, a huge KEYS), the kernel still
  accepting connections;
- lagging replicas: the replicas cut off (stopped, their links dropped) a moment before the master's
  kill -9, so what the master acknowledged in that moment never reached the server that is
  promoted: where writes are lost.

Each runs with JOBS["ENQUEUE_REPLICAS"] = 0 (the default) and = 1. Counted for each: sends that
delay() acknowledged and that never ran (lost) or ran twice, results missing for tasks that ran,
periodic runs missed, tasks sent (with a countdown) just before the fault that never ran, revocations
acknowledged just before the fault whose tasks ran anyway, and the time from the fault until a task
sent on a new connection ran. With 1, the sends, revocations and beat's sends wait for a replica
(redis/replicas.py): 0 lost of each, in every scenario, is asserted. The table is printed at the end
(pytest -s) and is the one in docs/operations.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis
from django.test import override_settings

from jobs import control
from jobs.engine.setup import app as engine_app
from tests.acceptance.test_sentinel import Producer, probe_until_it_runs
from tests.servers import SentinelGroup, _until, start_sentinel_group
from tests.testapp import tasks

#: Tasks written just before the fault (BeforeTheFault) are due this long after: after the switch.
COUNTDOWN = 10.0
REVOKED = 10
LATER = 20


@dataclass
class Row:
    scenario: str
    replicas: int
    acknowledged: int
    refused: int
    lost: int
    duplicated: int
    results_missing: int
    periodic_missed: int
    revocations: int
    revocations_lost: int
    later: int
    later_lost: int
    flowing: float

    def line(self) -> str:
        return (f"| {self.scenario} | {self.replicas} | {self.acknowledged} ({self.refused} refused) | {self.lost} | "
                f"{self.duplicated} | {self.results_missing} | {self.periodic_missed} | "
                f"{self.later_lost} of {self.later} | {self.revocations_lost} of {self.revocations} | "
                f"{self.flowing:.1f} s |")


HEADER = ("| fault | ENQUEUE_REPLICAS | sends acknowledged | lost | run twice | results missing | periodic runs missed "
          "| backlog sends lost | revocations lost | work flows again after |\n"
          "|---|---|---|---|---|---|---|---|---|---|")
ROWS: list[Row] = []


@pytest.fixture(scope="module", autouse=True)
def table() -> Iterator[None]:
    yield
    if ROWS:
        print("\n\nFailover, measured (tests/acceptance/test_failover.py):\n" + HEADER + "\n"
              + "\n".join(row.line() for row in ROWS))


@pytest.fixture
def group() -> Iterator[SentinelGroup]:
    """Two replicas: with ENQUEUE_REPLICAS = 1 and one replica, once it is promoted no server is left
    to confirm a write, and every send is refused until the old master is back as a replica."""
    with start_sentinel_group(server_args=("--enable-debug-command", "yes"), replicas=2) as started:
        yield started  # stop() continues a server a failed scenario left stopped, then kills it


#: A fault: write what is at stake (act()) and break something; return once the sentinels named a new master,
#: with what is left to await once work flows (the old master's demotion).
Fault = Callable[[SentinelGroup, Callable[[], None]], Callable[[], None]]


def kill_master(group: SentinelGroup, act: Callable[[], None]) -> Callable[[], None]:
    old = group.master
    act()
    old.stop()
    group.wait_new_master(old.port)
    return lambda: None


def stall_master(group: SentinelGroup, act: Callable[[], None]) -> Callable[[], None]:
    old = group.master
    act()
    old.pause()
    try:
        group.wait_new_master(old.port)
    finally:
        old.resume()
    return lambda: group.wait_demoted(old)


def sleep_master(group: SentinelGroup, act: Callable[[], None]) -> Callable[[], None]:
    """DEBUG SLEEP on a connection of its own (the call returns when Redis wakes): 6 s, longer than
    the sentinels take to agree and promote (down-after 1 s, then an election)."""
    old = group.master
    act()
    sleeper = threading.Thread(target=lambda: redis.Redis(old.host, old.port, socket_timeout=30).execute_command(
        "DEBUG", "SLEEP", "6"), daemon=True)
    sleeper.start()
    group.wait_new_master(old.port)

    def demoted() -> None:
        sleeper.join(30)
        group.wait_demoted(old)
    return demoted


def lagging_replica(group: SentinelGroup, act: Callable[[], None]) -> Callable[[], None]:
    """The replicas fall behind 0.3 s before the master's kill: what the master acknowledged in those
    0.3 s (sends, the revocations) is on no server that survives. A SIGSTOP alone is not enough: the
    kernel keeps receiving the replication stream into the stopped replica's socket, and the replica
    applies it once continued, before it is promoted. So the replicas are stopped and the master drops
    their links (CLIENT KILL TYPE replica): what it writes next reaches no replica, as over a
    congested or broken link."""
    old = group.master
    replicas = group.servers()[1:]
    for replica in replicas:
        replica.pause()
    group.client(old).execute_command("CLIENT", "KILL", "TYPE", "replica")
    revoking = threading.Thread(target=act, daemon=True)  # with 1, it waits for the stopped replicas
    revoking.start()
    time.sleep(0.3)  # the fault itself: a window of writes no replica gets
    old.stop()
    for replica in replicas:
        replica.resume()
    group.wait_new_master(old.port)
    return lambda: revoking.join(30)


SCENARIOS: dict[str, Fault] = {
    "kill -9 of the master": kill_master,
    "SIGSTOP of the master, then SIGCONT": stall_master,
    "DEBUG SLEEP 6 on the master": sleep_master,
    "lagging replicas, then kill -9 of the master": lagging_replica,
}


def beat_runs(evidence: redis.Redis) -> list[int]:
    """The due times (ms) of the periodic runs that ran: beat's task ids are beat-<entry>-<due ms>."""
    return [int(v.rsplit(b"-", 1)[1]) for v in evidence.lrange("pulses", 0, -1)]


class BeforeTheFault:
    """What is written just before the fault and is due after the switch, so that whether it
    survived shows: tasks sent earlier with a countdown (already on the replicas) that act() revokes,
    and LATER tasks act() sends with the same due time (a backlog: unlike the producer's, which the
    workers run within milliseconds, these wait on the master and are lost with it unless a replica
    has them). A marker task, not revoked, comes due a second after them all: once it ran, a revoked
    one that ran had its revocation lost, and a later one that did not run was lost."""

    def __init__(self, group: SentinelGroup) -> None:
        self.due = time.time() + COUNTDOWN
        self.ids = [tasks.record.apply_async(("revoked", i), countdown=COUNTDOWN).id for i in range(REVOKED)]
        self.marker = tasks.record.apply_async(("marker", 0), countdown=COUNTDOWN + 1)
        keys = engine_app.current().broker.keys
        for server in group.servers()[1:]:  # on the replicas already: only the revocation is at stake
            replica = group.client(server)
            _until("the countdown tasks on the replicas", lambda c=replica: c.zcard(keys.scheduled) > REVOKED, 10)
        self.revoked = 0
        self.later: list[int] = []
        self.later_refused = 0

    def act(self) -> None:
        """Revoke, then send the later ones; what raises (BrokerUnavailable) was not acknowledged,
        so it is not counted as lost."""
        try:
            self.revoked = control.revoke(self.ids)
        except Exception:
            self.revoked = 0
        for i in range(LATER):
            try:
                tasks.record.apply_async(("later", i), countdown=max(0.1, self.due - time.time()))
                self.later.append(i)
            except Exception:
                self.later_refused += 1

    def lost(self, evidence: redis.Redis) -> tuple[int, int]:
        """(revocations lost, later sends lost)."""
        assert evidence.blpop(["marker"], 60) is not None, "the marker task did not run after the switch"
        deadline = time.monotonic() + 3  # the marker's worker may be ahead of the others by a moment
        while True:
            later = {int(v.split(b":")[0]) for v in evidence.lrange("later", 0, -1)}
            if set(self.later) <= later or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        revocations_lost = len(evidence.lrange("revoked", 0, -1)) if self.revoked else 0
        return revocations_lost, len(set(self.later) - later)


def periodic_missed(evidence: redis.Redis, after: float) -> int:
    """Runs due each second from the first that ran to the one due `after` (unix s), that never ran."""
    deadline = time.monotonic() + 30
    while not any(due >= after * 1000 for due in beat_runs(evidence)):
        assert time.monotonic() < deadline, f"no periodic run due after the switch ran: {beat_runs(evidence)}"
        time.sleep(0.1)
    ran = sorted(set(beat_runs(evidence)))
    last = next(due for due in ran if due >= after * 1000)
    return sum(1 for due in range(ran[0], last + 1, 1000) if due not in ran)


@pytest.mark.slow
@pytest.mark.parametrize("replicas", [0, 1])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_failover_loses_nothing_acknowledged_with_enqueue_replicas(scenario, replicas, group, start_worker,
                                                                       start_beat, redis_server, r):
    url = group.url()
    settings = {"ENQUEUE_REPLICAS": replicas, "ENQUEUE_TIMEOUT": 5}
    env = {"JOBS_BROKER_URL": url, "JOBS_TEST_EVIDENCE_URL": redis_server.url}  # the evidence does not fail over
    workers = [start_worker("-c", "2", "-Q", "default,other", settings=settings, env=env, ready=False)
               for _ in range(2)]
    start_beat(settings={**settings, "BROKER_URL": url, "BEAT_SCHEDULE": {
        "pulse": {"task": "tests.testapp.tasks.record_id", "schedule": 1, "args": ["pulses"]}}})
    for worker in workers:
        worker.wait_for(r"ready\.$")
    with override_settings(JOBS={"BROKER_URL": url, **settings}):
        assert r.blpop(["pulses"], 30) is not None, "beat's periodic task did not run"
        r.delete("pulses")
        producer = Producer()
        producer.start()
        try:
            producer.wait_acknowledged(100)
            before = BeforeTheFault(group)
            fault = time.monotonic()
            settled = SCENARIOS[scenario](group, before.act)
            probe_until_it_runs()
            flowing = time.monotonic() - fault
            settled()
            recovered = time.time()
            producer.wait_acknowledged(len(producer.acknowledged) + 100)
        finally:
            producer.stop.set()
            producer.join(30)
        acknowledged = set(producer.acknowledged)
        deadline = time.monotonic() + 30
        while True:  # until every acknowledged send has run, or the deadline: the count is the finding
            ran = [int(v.split(b":")[0]) for v in r.lrange("ran", 0, -1)]
            if acknowledged <= set(ran) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        by_number = dict(zip(producer.acknowledged, producer.ids, strict=True))
        missing = sum(1 for n in set(ran) & acknowledged if not tasks.record.AsyncResult(by_number[n]).ready())
        row = Row(scenario, replicas, len(acknowledged), len(producer.failed), len(acknowledged - set(ran)),
                  len(ran) - len(set(ran)), missing, periodic_missed(r, recovered + 3),
                  before.revoked, 0, len(before.later), 0, flowing)
        row.revocations_lost, row.later_lost = before.lost(r)
    ROWS.append(row)
    print("\n" + row.line())
    for worker in workers:
        assert worker.proc.poll() is None  # the same processes throughout: no restart
    if replicas:
        assert (row.lost, row.later_lost, row.revocations_lost, row.periodic_missed) == (0, 0, 0, 0), row
