"""One hot queue over several shards (JOBS["QUEUE_SPREAD"]; issue 26, item 6), on a private
redis-server with real `runworker` processes: its messages spread over its parts, each on a shard of
its own; a worker of the queue drains every part; the same spread_key keeps one part (and so its
order); a unique task's lock is held by one part; the console and jobs.control see the queue whole."""

from __future__ import annotations

import pytest
from django.test import override_settings

from jobs import chain, control, inspection
from jobs.engine.errors import ConfigurationError
from jobs.engine.setup.config import Config
from jobs.engine.setup.shards import ShardMap
from tests.testapp import tasks

SPREAD = {"SHARDS": 3, "QUEUE_SHARD": {"hot": 1}, "QUEUE_SPREAD": {"hot": 3}}
KEYS = {"hot": "{jobs:1}:queue:hot", "hot~1": "{jobs:2}:queue:hot~1", "hot~2": "{jobs}:queue:hot~2"}


def test_the_parts_of_a_spread_queue_are_on_the_shards_after_its_own():
    shards = ShardMap(3, (("hot", 1),), (("hot", 3),))
    assert shards.parts("hot") == ["hot", "hot~1", "hot~2"]
    assert [shards.of(p) for p in shards.parts("hot")] == [1, 2, 0]
    assert shards.parts("cold") == ["cold"] and shards.place("cold", "x") == "cold"
    # A worker's queues by shard, in -Q's order, a spread queue as its parts ("cold" hashes to shard 1).
    assert shards.spread(["cold", "hot"]) == {0: ["hot~2"], 1: ["cold", "hot"], 2: ["hot~1"]}
    placed = [shards.place("hot", str(i)) for i in range(3000)]
    assert {p: placed.count(p) for p in shards.parts("hot")} == pytest.approx({"hot": 1000, "hot~1": 1000,
                                                                                "hot~2": 1000}, rel=0.1)
    assert len({shards.place("hot", "customer-42") for _ in range(10)}) == 1


@pytest.mark.parametrize("settings, says", [
    ({"shards": 2, "queue_spread": {"hot": 3}}, "from 1 to JOBS['SHARDS'] (2)"),
    ({"shards": 2, "queue_spread": {"hot": 0}}, "from 1 to JOBS['SHARDS'] (2)"),
    ({"shards": 2, "queue_spread": {"hot": True}}, "from 1 to JOBS['SHARDS'] (2)"),
    ({"shards": 2, "queue_spread": {"hot~1": 2}}, "a queue of JOBS['QUEUE_SPREAD']"),
    ({"shards": 2, "queue_spread": ["hot"]}, "must be a dict"),
])
def test_wrong_spread_settings_are_refused_saying_what_to_give(settings, says):
    with pytest.raises(ConfigurationError, match=says.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")
                       .replace(")", r"\)")):
        Config(**settings)


def test_sends_spread_over_the_parts_and_a_key_keeps_one_part(r):
    with override_settings(JOBS=SPREAD):
        for i in range(300):
            tasks.add.apply_async((i, i), queue="hot")
        lengths = {part: r.zcard(key) for part, key in KEYS.items()}
        assert sum(lengths.values()) == 300 and min(lengths.values()) >= 60, lengths
        assert inspection.queue_length("hot") == 300
        for i in range(20):
            tasks.add.apply_async((i, 0), queue="hot", spread_key="customer-42")
        after = {part: r.zcard(key) - lengths[part] for part, key in KEYS.items()}
        assert sorted(after.values()) == [0, 0, 20]  # one part took them all, in the order sent
        assert control.purge("hot") == 320
        assert {part: r.zcard(key) for part, key in KEYS.items()} == {"hot": 0, "hot~1": 0, "hot~2": 0}


def test_a_unique_task_on_a_spread_queue_is_locked_once(r):
    with override_settings(JOBS=SPREAD):
        first = tasks.add.apply_async((1, 2), queue="hot", unique_for=60)
        again = [tasks.add.apply_async((1, 2), queue="hot", unique_for=60) for _ in range(10)]
        assert {a.id for a in again} == {first.id}  # every later send returns the run holding the lock
        assert sum(r.zcard(key) for key in KEYS.values()) == 1


def test_a_worker_of_a_spread_queue_drains_every_part_in_order_of_a_key(r, start_worker):
    worker = start_worker("-c", "3", "-Q", "hot", settings=SPREAD, ready=False)
    worker.wait_count(r"ready\.$", 3)  # a supervisor per part's shard
    with override_settings(JOBS=SPREAD):
        sent = [tasks.record.apply_async(("spread", i), queue="hot") for i in range(60)]
        assert sorted(s.get(timeout=30) for s in sent) == list(range(60))
        assert {s.shard for s in sent} == {0, 1, 2}
        keyed = [tasks.record.apply_async(("keyed", i), queue="hot", spread_key="k") for i in range(30)]
        assert keyed[-1].get(timeout=30) == 29
        # One part, one shard's worker (c=1 there): they ran in the order sent.
        assert [int(v.split(b":")[0]) for v in r.lrange("keyed", 0, -1)] == list(range(30))
        assert control.pause("hot") and inspection.paused().keys() >= {"hot", "hot~1", "hot~2"}
        assert control.resume("hot")
        done = chain(tasks.add.s(1, 1).set(queue="hot"), tasks.add.s(5).set(queue="hot")).delay()
        assert done.get(timeout=30) == 7  # a chain's next step may land on another part: handed on
    worker.signal(15)
    assert worker.wait(30) == 0
    assert "Traceback" not in worker.output, worker.output
