"""The history's Redis side, against a real Redis: what the scripts record in the same step as they
settle a task, how the backlog is bounded, how records are read, handed over and ordered."""

import json

import pytest

from jobs.engine.ops.records import records_of, stage
from jobs.engine.redis.broker import Broker
from jobs.engine.redis.deliveries import Ack
from jobs.engine.setup import app as engine_app
from jobs.engine.setup.config import Config
from jobs.engine.setup.registry import Registry
from jobs.engine.wire.message import Message
from jobs.engine.wire.outcome import Outcome, about
from jobs.engine.wire.outcome import encode as encode_result
from jobs.engine.wire.redact import Redactor


@pytest.fixture
def broker(redis_server):
    return Broker(Config(broker_url=redis_server.url, history=True, history_backlog=100))


def settle(broker, n, status="SUCCESS", first=0):
    """n tasks fetched and acknowledged with a result document each; the history gets '='."""
    broker.sends.enqueue([Message(id=f"t{first + i}", task="t.x", args=(i,)) for i in range(n)])
    fetched = broker.deliveries.fetch(broker.deliveries.plan(["default"], "w."), n, first)
    acks = []
    for d in fetched.deliveries:
        task_id = d.wire.split(b"|")[2].decode()
        doc = encode_result(Outcome(status, 1 if status == "SUCCESS" else None, reason="r"), "t.x", "json", "w",
                            about(task_id, ([1], {}, True), "default", 0, 0.0, None))
        acks.append(Ack(d.token, task_id, doc, history=("s" if status == "SUCCESS" else "f") + "="))
    assert broker.deliveries.ack(acks) == []


def test_an_ack_records_its_result_document_in_the_same_step(broker, r):
    settle(broker, 3)
    entries = broker.history.read("rec", 10, block_ms=10)
    assert [field for _, field, _ in entries] == [b"r"] * 3
    assert [json.loads(value)["id"] for _, _, value in entries] == ["t0", "t1", "t2"]
    assert r.xlen(broker.keys.history) == 3  # read, but kept until written (history_done)
    broker.history.done([entry_id for entry_id, _, _ in entries])
    assert r.xlen(broker.keys.history) == 0


def test_the_backlog_is_bounded_and_successes_go_first(broker, r):
    settle(broker, 150)  # HISTORY_BACKLOG=100: the last 50 successes are counted, not kept
    assert r.xlen(broker.keys.history) == 100
    settle(broker, 120, status="FAILURE", first=1000)  # other outcomes are kept up to twice the bound
    assert r.xlen(broker.keys.history) == 200
    assert broker.history.waiting() == (200, {"success": 50, "other": 20})
    assert broker.history.dropped() == {"success": 50, "other": 20}  # taken once, to be logged once
    assert broker.history.dropped() == {}


def test_no_history_no_record(redis_server, r):
    broker = Broker(Config(broker_url=redis_server.url, history=False))
    settle(broker, 2)
    assert r.exists(broker.keys.history) == 0


def test_a_gone_recorders_records_are_taken_over_at_once_and_a_stuck_ones_after_a_while(broker, r):
    settle(broker, 4)
    mine = broker.history.read("gone.worker", 2, block_ms=10)
    stuck = broker.history.read("live.worker", 2, block_ms=10)
    assert len(mine) == len(stuck) == 2
    r.zadd(broker.keys.workers, {"live.worker": int(r.time()[0]) * 1000})  # its worker's heartbeat: fresh
    taken = broker.history.claim("other", idle_ms=60_000, dead_ms=30_000, count=10)
    assert [e[0] for e in taken] == [e[0] for e in mine]  # no heartbeat at all: gone, taken now
    later = broker.history.claim("other", idle_ms=0, dead_ms=30_000, count=10)  # read long enough ago
    assert {e[0] for e in stuck} <= {e[0] for e in later}


def test_a_stopping_recorder_leaves_the_group_only_when_it_holds_nothing(broker, r):
    settle(broker, 2)
    held = broker.history.read("a", 1, block_ms=10)
    broker.history.read("b", 1, block_ms=10)
    broker.history.done([held[0][0]])
    assert broker.history.sweep("a") == 1
    assert broker.history.sweep("b") == 0  # it still holds a record: removing it would lose that
    names = [c["name"] for c in r.xinfo_consumers(broker.keys.history, "recorders")]
    assert names == [b"b"] or names == ["b"]


def test_records_keep_the_latest_stage_of_each_task(redis_server):
    redactor = Redactor(("password",), 4096)
    docs = [
        {"status": "STARTED", "id": "a", "task": "t", "retries": 0, "args": [1], "kwargs": {}},
        {"status": "RETRY", "id": "a", "task": "t", "retries": 0, "args": [1], "kwargs": {},
         "exception": {"module": "builtins", "name": "OSError", "message": "later", "args": ["later"]}},
        {"status": "SUCCESS", "id": "a", "task": "t", "retries": 1, "args": [1], "kwargs": {}, "result": 5},
        {"status": "STARTED", "id": "a", "task": "t", "retries": 1, "args": [1], "kwargs": {}},  # a late copy
    ]
    entries = [(f"{i}-0".encode(), b"r", json.dumps(d).encode()) for i, d in enumerate(docs)]
    [record] = records_of(Registry(), redactor, entries)
    assert record.status == "SUCCESS" and record.result == "5" and record.retries == 1
    assert record.stage == stage("SUCCESS", 1) > stage("STARTED", 1) > stage("RETRY", 0)


def test_a_dead_letter_and_a_revoked_message_are_recorded_with_their_arguments_redacted(redis_server):
    redactor = Redactor(("password",), 4096)
    wire = Message(id="d1", task="shop.login", args=("ann",), kwargs={"password": "hunter2"}, retries=2).encode()
    dead = {"id": "d1", "task_id": "d1", "task": "shop.login", "queue": "q", "reason": "MAX_DELIVERIES",
            "worker": "", "time": 1.0, "message": wire}
    revoked = {"status": "REVOKED", "reason": "revoked", "task": "shop.login", "id": "d2", "queue": "q",
               "date_done": 2.0, "message": wire.replace("|d1|", "|d2|")}
    rows = records_of(Registry(), redactor, [(b"1-0", b"x", json.dumps(dead).encode()),
                                             (b"2-0", b"r", json.dumps(revoked).encode()),
                                             (b"3-0", b"r", b"not json")])  # skipped, logged
    assert [(r.task_id, r.status) for r in rows] == [("d1", "REJECTED"), ("d2", "REVOKED")]
    assert all(r.args == '["ann"]' and r.kwargs == '{"password":"***"}' and not r.args_complete for r in rows)
    assert rows[0].retries == 2 and json.loads(rows[0].result) == {"reason": "MAX_DELIVERIES"}


def test_the_app_records_nothing_without_a_store(redis_server):
    assert engine_app.App(Config(broker_url=redis_server.url)).history_store is None
