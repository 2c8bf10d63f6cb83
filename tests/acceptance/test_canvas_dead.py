"""Workflow steps moved to the dead letters, on real workers: what would have followed one ends
visibly, REVOKED with the reason, whichever way it was buried (a lease run out too often:
maintain.lua; a child that died too often: requeue.lua; a task no worker knows: dead.lua); and a
dead letter requeued runs alone, leaving its followers' results as they are."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from jobs import AsyncResult, chain, chord, signature
from jobs.engine.errors import TaskRevoked
from jobs.engine.setup import app as engine_app
from tests.testapp import tasks


def broker():
    return engine_app.current().broker


def dead_records(r):
    return {record["task_id"]: record for record in (json.loads(v) for v in r.hvals(broker().keys.dead))}


def test_a_chain_step_dead_lettered_after_too_many_lost_deliveries_ends_its_chain(start_worker, r):
    """The first step is taken and its lease runs out (its holder, this test, never settles it):
    maintain.lua counts the lost delivery, which is one too many (MAX_DELIVERIES=1), buries it and
    marks the rest of the chain REVOKED in the same step."""
    result = chain(tasks.add.s(1, 2), tasks.add.s(10), tasks.add.s(100)).delay()
    first = result.parent.parent
    [taken] = broker().deliveries.fetch(broker().deliveries.plan(["default"], "test.0."), 1, 0).deliveries
    r.zadd(broker().keys.leases, {taken.token: 0})  # its lease ran out long ago
    start_worker("-c", "1", settings={"MAX_DELIVERIES": 1})
    reason = (rf"not run: a step before it, tests.testapp.tasks.add\[{first.id}\], was moved to the dead letters: "
              r"delivered 1 times without finishing \(MAX_DELIVERIES\)")
    with pytest.raises(TaskRevoked, match=reason):
        result.get(timeout=20)
    assert result.parent.status == "REVOKED" and first.status == "PENDING"
    assert dead_records(r)[first.id]["ended"] is True
    assert broker().controls.queue_length("default") == 0

    # Requeued, it runs alone: its result is stored; what followed it keeps its REVOKED result.
    out = io.StringIO()
    call_command("jobs", "dead", "requeue", first.id, stdout=out, stderr=out)
    assert "1 dead letter(s) back" in out.getvalue()
    assert first.get(timeout=20) == 3
    assert tasks.add.delay(0, 0).get(timeout=20) == 0  # FIFO: a next step would have been sent before
    followers = [AsyncResult(result.parent.id), AsyncResult(result.id)]  # not the ones that read REVOKED already
    assert [f.status for f in followers] == ["REVOKED", "REVOKED"]
    with pytest.raises(TaskRevoked, match="was moved to the dead letters"):
        followers[1].get(timeout=1)
    assert broker().dead.count() == 0 and broker().controls.queue_length("default") == 0


def test_a_chord_member_dead_lettered_ends_the_callback_and_what_follows(start_worker, r):
    """A member whose child dies each time (requeue.lua, past MAX_DELIVERIES) and a member whose
    task no worker knows (dead.lua, after UNKNOWN_TASK_GRACE): the other members run, the callback
    and what follows it are marked REVOKED, saying which member went to the dead letters and why."""
    start_worker("-c", "2", settings={"MAX_DELIVERIES": 2, "UNKNOWN_TASK_GRACE": 1})
    crashing = chain(chord([tasks.add.s(1, 1), chain(tasks.crash_again.si("cm"), tasks.add.s("!")), tasks.add.s(2, 2)],
                           tasks.collect.s("calls")), tasks.add.s(1)).delay()
    header = crashing.parent.parent
    with pytest.raises(TaskRevoked, match=r"tests.testapp.tasks.crash_again\[.*\], was moved to the dead letters: "
                                          r"delivered 2 times without finishing"):
        crashing.get(timeout=30)
    assert header[0].get(timeout=10) == 2 and header[2].get(timeout=10) == 4
    assert header[1].status == "REVOKED" and header[1].parent.status == "PENDING"  # its chain's rest
    assert crashing.parent.status == "REVOKED" and int(r.get("runs:cm")) == 2

    unknown = chord([tasks.add.s(3, 3), signature("shop.not_deployed", (1,))], tasks.collect.s("calls")).delay()
    with pytest.raises(TaskRevoked, match=r"shop.not_deployed\[.*\], was moved to the dead letters: task "
                                          r"'shop.not_deployed' is not registered .*UNKNOWN_TASK_GRACE"):
        unknown.get(timeout=30)
    assert unknown.parent[0].get(timeout=10) == 6 and unknown.parent[1].status == "PENDING"
    assert r.llen("calls") == 0
    assert all(record["ended"] for record in dead_records(r).values())
