"""Joins across shards (issue 26, item 5), on a private redis-server with real `runworker` processes:
a chord whose members sit on three shards and whose callback is on a fourth queue, counted on the
join's home shard (the callback's: execution/followup.py join_home) from "joined" envelopes that each
member's shard forwards (redis/lua/joined.lua); the same with a shard's supervisor killed with kill -9
while a member runs; a group waited for inside a chain across shards; a member that fails. And the
forwarder's idempotence: a joined envelope applied twice counts once and sends the callback once.
And the same chord on a Cluster of three masters, each shard's keys on its own master; and a chord on
one queue spread over three shards (QUEUE_SPREAD).
"""

from __future__ import annotations

import json
import os
import uuid

import pytest
from django.test import override_settings

from jobs import ChordError, chain, chord, group
from jobs.engine.redis.cluster import slot_of
from jobs.engine.redis.keys import Keys
from jobs.engine.setup.shards import ShardMap
from jobs.engine.wire.options import CallOptions
from tests.servers import start_cluster
from tests.testapp import tasks

#: Members on q0, q1, q2 (shards 0, 1, 2); the callback on "cb", on shard 2, a fourth queue: the
#: join is counted there, and its first member's shard (0, where its list is written) is another.
SETTINGS = {"SHARDS": 3, "QUEUE_SHARD": {"q0": 0, "q1": 1, "q2": 2, "cb": 2}, "LEASE_SECONDS": 2}
QUEUES = ("q0", "q1", "q2")


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _worker(start_worker):
    worker = start_worker("-c", "3", "-Q", "q0,q1,q2,cb", settings=SETTINGS, ready=False)
    worker.wait_count(r"ready\.$", 3)
    return worker


def _stopped(worker) -> None:
    """Stopped warm: whatever it would still send has been sent, so the counts after are final."""
    worker.signal(15)
    assert worker.wait(30) == 0


@pytest.mark.slow
def test_a_chord_over_three_shards_runs_its_callback_once_with_the_results_in_order(r, start_worker):
    worker = _worker(start_worker)
    key = f"chord:{uuid.uuid4().hex}"
    with override_settings(JOBS=SETTINGS):
        members = [tasks.record.s("ran", f"m{i}").set(queue=QUEUES[i % 3]) for i in range(9)]
        result = chord(members, tasks.collect.s(key).set(queue="cb")).delay()
        assert result.get(timeout=30) == 9
        nested = chain(tasks.add.s(1, 1).set(queue="q0"),
                       group(tasks.add.s(1).set(queue="q1"), tasks.add.s(2).set(queue="q2"), tasks.add.s(3)
                             .set(queue="q0")),
                       tasks.collect.s(f"{key}:nested").set(queue="cb")).delay()
        assert nested.get(timeout=30) == 3 + 4 + 5
    _stopped(worker)
    assert [json.loads(x) for x in r.lrange(key, 0, -1)] == [[f"m{i}" for i in range(9)]]  # once, in order
    assert [json.loads(x) for x in r.lrange(f"{key}:nested", 0, -1)] == [[3, 4, 5]]
    ran = [x.decode().split(":")[0] for x in r.lrange("ran", 0, -1)]
    assert sorted(ran) == sorted(f"m{i}" for i in range(9))  # each member once
    # Counted on the callback's shard (2); the members of shards 0 and 1 handed their ends over.
    done = {shard: sorted(k.decode() for k in r.keys(f"{{jobs{shard}}}:chord:*") if not k.endswith(b":of"))
            for shard in ("", ":1", ":2")}
    assert not done[""] and not done[":1"] and len(done[":2"]) == 2, done
    assert {k: r.zcard(f"{{jobs{k}}}:forward") for k in ("", ":1", ":2")} == {"": 0, ":1": 0, ":2": 0}
    assert "Traceback" not in worker.output, worker.output


@pytest.mark.slow
def test_a_member_that_fails_on_another_shard_fails_the_callback_as_on_one(r, start_worker):
    worker = _worker(start_worker)
    key = f"chord:{uuid.uuid4().hex}"
    with override_settings(JOBS=SETTINGS):
        result = chord([tasks.add.s(1, 1).set(queue="q0"), tasks.fail.s("no").set(queue="q1"),
                        tasks.add.s(2, 2).set(queue="q2")], tasks.collect.s(key).set(queue="cb")).delay()
        with pytest.raises(ChordError, match=r"member tests.testapp.tasks.fail\[.*\] of the chord ended FAILURE: "
                                             r"PaymentDeclined: no; the callback did not run"):
            result.get(timeout=30)
    _stopped(worker)
    assert r.llen(key) == 0
    assert worker.output.count("Traceback") == worker.output.count("raise PaymentDeclined"), worker.output


@pytest.mark.slow
def test_a_chord_over_three_shards_with_a_shard_supervisor_killed_loses_nothing_and_calls_back_once(
        r, start_worker):
    worker = _worker(start_worker)
    key, name = f"chord:{uuid.uuid4().hex}", uuid.uuid4().hex
    with override_settings(JOBS=SETTINGS):
        members = [tasks.record.s("ran", f"m{i}").set(queue=QUEUES[i % 3]) for i in range(6)]
        members.insert(1, tasks.block.s(name).set(queue="q1"))
        result = chord(members, tasks.collect.s(key).set(queue="cb")).delay()
        first = int(r.blpop([f"started:{name}"], 20)[1])
        os.kill(_parent_of(first), 9)  # shard 1's supervisor; its consumer dies with it (PDEATHSIG)
        worker.wait_for(r"the supervisor of shard 1 \(pid \d+\) ended unexpectedly")
        worker.wait_count(r"ready\.$", 4, timeout=30)
        again = int(r.blpop([f"started:{name}"], 30)[1])  # its lease ran out; the new supervisor took it back
        assert again != first
        r.rpush(f"release:{name}", 1)
        assert result.get(timeout=30) == 7
    _stopped(worker)
    assert r.lrange(f"deliveries:{name}", 0, -1) == [b"1", b"2"]
    calls = [json.loads(x) for x in r.lrange(key, 0, -1)]
    assert calls == [["m0", name, *(f"m{i}" for i in range(1, 6))]]  # once, every member, in order
    ran = sorted(x.decode().split(":")[0] for x in r.lrange("ran", 0, -1))
    assert ran == sorted(f"m{i}" for i in range(6))  # none lost, none doubled


def test_a_joined_envelope_applied_twice_counts_once_and_sends_the_callback_once(r):
    """A forwarder that dies after joined.lua and before it removes the envelope applies it again at
    its next turn: the member is in the join's set already, so nothing is counted or sent again."""
    from jobs.engine.execution.followup import follow_up
    from jobs.engine.send.forwarder import forward
    from jobs.engine.setup import app as engine_app
    from jobs.engine.setup.build import message
    from jobs.engine.wire.message_options import MessageOptions
    from jobs.engine.wire.outcome import SUCCESS, Outcome
    from jobs.engine.wire.workflow import ChordSpec

    with override_settings(JOBS=SETTINGS):
        app = engine_app.current()
        app.bind(0)  # as in shard 0's worker, where the member ran
        spec = ChordSpec("join-1", 1, tasks.collect.s("k").set(queue="cb"))
        member = message(app, "tests.testapp.tasks.add", (1, 2), {}, CallOptions(queue="q0"),
                         MessageOptions(chord=spec))
        extra = json.loads(follow_up(app, member, Outcome(SUCCESS, value=3), "host"))
        assert "c" not in extra  # not counted here: handed to the join's home, shard 2
        [entry] = extra["f"]
        assert entry["k"] == "{jobs}:forward" and json.loads(entry["m"])["k"] == 2
        for _ in range(2):
            r.zadd(entry["k"], {entry["m"]: 0})  # what lib/ack.lua's enqueue_now writes
            assert forward(app) == 1
            assert r.zcard("{jobs}:forward") == 0
        assert r.smembers("{jobs:2}:chord:join-1") == {member.id.encode()}
        assert r.zcard("{jobs:2}:queue:cb") == 1  # the callback, sent once


@pytest.mark.slow
def test_a_chord_over_three_shards_on_a_cluster_of_three_masters(start_worker, redis_server, r):
    """The members' acks, the joined envelopes and the join's script each on its shard's master:
    joined.lua is called on the home's slot, with keys of that slot only."""
    with start_cluster(masters=3) as cluster:
        settings = {**SETTINGS, "BROKER_URL": cluster.url()}
        worker = start_worker("-c", "3", "-Q", "q0,q1,q2,cb", settings=settings, ready=False,
                              env={"JOBS_TEST_EVIDENCE_URL": redis_server.url})
        worker.wait_count(r"ready\.$", 3)
        key = f"chord:{uuid.uuid4().hex}"
        with override_settings(JOBS={**settings, "ENQUEUE_TIMEOUT": 5}):
            members = [tasks.record.s("ran", f"m{i}").set(queue=QUEUES[i % 3]) for i in range(6)]
            assert chord(members, tasks.collect.s(key).set(queue="cb")).delay().get(timeout=30) == 6
        _stopped(worker)
        owners = {cluster.owner_of(slot_of(Keys("jobs", shard).tag)).port for shard in range(3)}
        print(f"\nthe 3 shards on {len(owners)} master(s)")
        assert len(owners) >= 2  # the envelopes crossed from one master to another
    assert [json.loads(x) for x in r.lrange(key, 0, -1)] == [[f"m{i}" for i in range(6)]]
    assert "Traceback" not in worker.output, worker.output


@pytest.mark.slow
def test_a_chord_on_a_spread_queue_runs_its_members_on_every_part_and_calls_back_once(r, start_worker):
    """QUEUE_SPREAD: a join's members and callback go to parts as any message does, and
    the join is counted on the shard of the queue's own part, the callback's queue's."""
    settings = {"SHARDS": 3, "QUEUE_SHARD": {"hot": 0}, "QUEUE_SPREAD": {"hot": 3}}
    worker = start_worker("-c", "3", "-Q", "hot", settings=settings, ready=False)
    worker.wait_count(r"ready\.$", 3)
    key = f"chord:{uuid.uuid4().hex}"
    with override_settings(JOBS=settings):
        members = [tasks.record.s("ran", f"m{i}").set(queue="hot", spread_key=f"k{i}") for i in range(12)]
        assert len({ShardMap(3, spreads=(("hot", 3),)).place("hot", f"k{i}") for i in range(12)}) == 3
        assert chord(members, tasks.collect.s(key).set(queue="hot")).delay().get(timeout=30) == 12
    _stopped(worker)
    assert [json.loads(x) for x in r.lrange(key, 0, -1)] == [[f"m{i}" for i in range(12)]]
    pids = {x.decode().split(":")[1] for x in r.lrange("ran", 0, -1)}
    assert len(pids) == 3  # every part's shard ran members
