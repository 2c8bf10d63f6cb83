"""No script runs half-way while jobs' Cluster slot migrates (redirects.py, keys.guard), on a real
cluster of three masters (tests/servers.start_cluster).

Each test holds the slot in a real partial migration (CLUSTER SETSLOT IMPORTING / MIGRATING, then
MIGRATE of one chosen key: a queue that a key built inside the script names), runs a script through
the Broker as jobs does, in a thread, and checks, once the call has been refused and retried at least
once, that nothing of either node changed; then it ends the migration and checks that the same call
completed, once: nothing doubled, nothing lost. Without the guard each of these scripts would run on
the old owner and be refused at its touch of the moved queue, after its first writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jobs.engine.redis.broker import Broker
from jobs.engine.redis.cluster import slot_of
from jobs.engine.redis.deliveries import Ack
from jobs.engine.setup.config import Config
from jobs.engine.wire.message import Message
from tests.servers import ClusterGroup, RunningServer, start_cluster
from tests.threaded import Threaded

PREFIX = "jobs-migrating"
SLOT = slot_of("{" + PREFIX + "}")


@pytest.fixture(scope="module")
def started_cluster() -> Iterator[ClusterGroup]:
    with start_cluster(masters=3) as started:
        yield started


@pytest.fixture
def cluster(started_cluster: ClusterGroup) -> Iterator[ClusterGroup]:
    started_cluster.flush()
    yield started_cluster
    # Each test moves the slot away from its owner: the next starts from wherever it ends up.


@pytest.fixture
def broker(cluster: ClusterGroup) -> Broker:
    return Broker(Config(broker_url=cluster.url(), key_prefix=PREFIX, enqueue_timeout=20, lease_seconds=60))


def msg(i: int, queue: str = "default", **kw: Any) -> Message:
    return Message(id=f"id-{i}", task="t.noop", args=(i,), queue=queue, **kw)


def _busy(cluster: ClusterGroup, k: Any, *more: str) -> None:
    """Every key the scripts here declare, made to exist on the owner, as on a busy site: else Redis
    answers TRYAGAIN for a missing one before any script runs, guard or not, and these tests would
    prove nothing. The placeholders are inert: no lease due, no message in them. `more`: strings."""
    client = cluster.client(cluster.owner_of(SLOT))
    far = 10**15
    for key in (k.scheduled, k.leases, k.expiries, k.dead_order, k.terminate):
        client.zadd(key, {"placeholder": far})
    client.zadd(k.revoked, {"placeholder": 1})
    client.zadd(k.workers, {"w-other": int(time.time() * 1000)})
    for key in (k.inflight, k.dead, k.history_dropped, k.stats, k.paused, k.running("w-1")):
        client.hset(key, "placeholder", "1")
    client.hset(k.idle, "nobody", "0|0|0|nobody")
    client.sadd(k.shutdown, "nobody")
    client.xadd(k.history, {"placeholder": "1"})
    client.set(k.maintained, int(time.time() * 1000))  # maintain.lua reads when it last ran
    for key in (k.inbox("w.0.0."), *more):
        client.set(key, "placeholder")


def _snapshot(cluster: ClusterGroup, node: RunningServer) -> dict[bytes, bytes]:
    """Every key of the slot on `node`, with its DUMP (ASKING first: the target of a migration answers
    for an importing slot only after it)."""
    client = cluster.client(node)
    keys = client.execute_command("CLUSTER", "GETKEYSINSLOT", SLOT, 10_000)
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.execute_command("ASKING")
        pipe.execute_command("DUMP", key)
    return dict(zip(keys, pipe.execute()[1::2], strict=True))


def _refused(cluster: ClusterGroup, *nodes: RunningServer) -> int:
    """How many script calls these nodes refused before running them (redirections: ASK, TRYAGAIN)."""
    return sum(int(cluster.client(n).info("commandstats").get("cmdstat_evalsha", {}).get("rejected_calls", 0))
               for n in nodes)


def _mid_move(cluster: ClusterGroup, moved: list[str], call: Callable[[], Any]) -> Any:
    """Run `call` while the slot migrates with only `moved` on the target; check that it waits without
    writing anything; end the move; return what the call returned."""
    home = cluster.owner_of(SLOT)
    away = next(n for n in cluster.masters() if n is not home)
    cluster.begin_move(SLOT, away, moved)
    before = _snapshot(cluster, home), _snapshot(cluster, away)
    assert set(before[1]) == {k.encode() for k in moved}
    refused = _refused(cluster, home, away)
    running = Threaded(call)
    try:
        running.start()
        deadline = time.monotonic() + 10
        while _refused(cluster, home, away) < refused + 3:  # refused, retried, refused again: it waits
            assert running.thread.is_alive() and time.monotonic() < deadline, (running.done, running.failed)
            time.sleep(0.01)
        assert (_snapshot(cluster, home), _snapshot(cluster, away)) == before  # nothing written, anywhere
        assert not running.done and not running.failed
    finally:
        cluster.end_move(SLOT, away)
        running.join()
    assert not running.failed, [str(e) for e in running.failed]
    assert cluster.owner_of(SLOT) is away
    return running.done[0]


def _due_in_scheduled(broker: Broker, r: Any, message: Message) -> None:
    """`message`, sent with an eta a moment ahead, is in the scheduled set and due now."""
    broker.sends.enqueue([message])
    assert r.zcard(broker.keys.scheduled) == 1
    while time.time() <= message.eta:  # type: ignore[operator]
        time.sleep(0.01)  # the message's due time passing, not a wait for another process


def test_a_fetch_that_would_promote_onto_a_queue_that_left_waits_and_then_runs_once(cluster, broker):
    """fetch.lua settles an ack, then promotes a due message onto its queue, a key it builds
    (queue_prefix .. its queue), which has left: refused there, the ack would be settled and the
    promotion lost for this call, and the message taken again by the next."""
    k = broker.keys
    home = cluster.client(cluster.owner_of(SLOT))
    broker.sends.enqueue([msg(1), msg(2), msg(3, "other")])
    plan = broker.deliveries.plan(["default"], "w.0.0.")
    [first] = broker.deliveries.fetch(plan, 1, 0).deliveries
    _due_in_scheduled(broker, home, msg(4, "other", eta=time.time() + 0.2))
    _busy(cluster, k, k.wake("default"), k.result("id-1"))

    fetched = _mid_move(cluster, [k.queue("other")],
                        lambda: broker.deliveries.fetch(plan, 5, 1, acks=[Ack(first.token, "id-1", "ok")]))

    owner = cluster.client(cluster.owner_of(SLOT))
    assert fetched.refused == [] and [d.queue for d in fetched.deliveries] == ["default"]
    assert owner.get(k.result("id-1")) == b"ok"
    assert owner.hlen(k.inflight) == 2 and owner.zcard(k.leases) == 2  # id-2's, taken once; id-1 settled
    assert owner.zcard(k.scheduled) == 1  # the placeholder
    assert sorted(w.split(b"|")[2] for w in owner.zrange(k.queue("other"), 0, -1)) == [b"id-3", b"id-4"]


def test_maintain_promoting_a_due_message_onto_a_queue_that_left_waits_and_then_runs_once(cluster, broker):
    k = broker.keys
    home = cluster.client(cluster.owner_of(SLOT))
    broker.sends.enqueue([msg(1, "later")])
    _due_in_scheduled(broker, home, msg(2, "later", eta=time.time() + 0.2))
    _busy(cluster, k)

    done = _mid_move(cluster, [k.queue("later")], lambda: broker.leases.maintain("w-1"))

    owner = cluster.client(cluster.owner_of(SLOT))
    assert done.promoted == 1
    assert owner.zcard(k.scheduled) == 1  # the placeholder
    assert sorted(w.split(b"|")[2] for w in owner.zrange(k.queue("later"), 0, -1)) == [b"id-1", b"id-2"]


def test_an_ack_whose_chain_step_goes_to_a_queue_that_left_waits_and_then_runs_once(cluster, broker):
    """ack.lua settles the delivery and stores its result before it sends the next step of its chain
    to that step's queue, a key carried in the ack's JSON ("f": k): refused there, the step would be
    lost (the retried ack is refused: its delivery was settled)."""
    k = broker.keys
    broker.sends.enqueue([msg(1), msg(2, "next")])
    plan = broker.deliveries.plan(["default"], "w.0.0.")
    [first] = broker.deliveries.fetch(plan, 1, 0).deliveries
    step = msg(3, "next")
    extra = ('{"f":[{"k":"%s","w":"%s","s":%s,"m":"%s"}]}'
             % (k.queue("next"), k.wake("next"), step.score, f"{int(time.time() * 1000):x}|0|id-3|t.noop|{{}}"))
    _busy(cluster, k, k.result("id-1"))

    refused = _mid_move(cluster, [k.queue("next")],
                        lambda: broker.deliveries.ack([Ack(first.token, "id-1", "ok", extra=extra)]))

    owner = cluster.client(cluster.owner_of(SLOT))
    assert refused == []
    assert owner.get(k.result("id-1")) == b"ok"
    assert owner.hlen(k.inflight) == 1 and owner.zcard(k.leases) == 1  # the placeholder
    assert sorted(w.split(b"|")[2] for w in owner.zrange(k.queue("next"), 0, -1)) == [b"id-2", b"id-3"]
    assert owner.llen(k.wake("next")) == 1


def test_a_dead_letter_requeued_onto_a_queue_that_left_waits_and_then_runs_once(cluster, broker):
    """dead_requeue.lua deletes the dead letter and then puts it on its queue, a key it builds from the
    record's queue name."""
    k = broker.keys
    broker.sends.enqueue([msg(1, "mail"), msg(2, "mail")])
    plan = broker.deliveries.plan(["mail"], "w.0.0.")
    [first] = broker.deliveries.fetch(plan, 1, 0).deliveries
    assert broker.runs.bury(first.token, "a test")[0]
    _busy(cluster, k)

    requeued = _mid_move(cluster, [k.queue("mail")], lambda: broker.dead.requeue(["id-1"]))

    owner = cluster.client(cluster.owner_of(SLOT))
    assert requeued == ["id-1"]
    assert not owner.hexists(k.dead, "id-1") and owner.zscore(k.dead_order, "id-1") is None
    assert sorted(w.split(b"|")[2] for w in owner.zrange(k.queue("mail"), 0, -1)) == [b"id-1", b"id-2"]


def test_a_rate_limited_start_on_a_cluster_counts_its_budgets_not_the_guard(cluster, broker):
    """rate.lua counts its budgets by its ARGV: on a Cluster the link declares one key more than the
    spec (the guard), which the script must not take for a budget."""
    message = msg(1)
    broker.sends.enqueue([message])
    budgets = [("t.noop", 1000.0)]
    assert broker.runs.rate_budget(message, budgets) == 0  # the first start: allowed, and counted
    assert broker.runs.rate_budget(message, budgets) > 0  # the next: deferred to its turn
    assert cluster.client(cluster.owner_of(SLOT)).hget(broker.keys.rate("t.noop"), "tat")
