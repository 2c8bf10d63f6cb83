"""Lost worker processes, poison messages, unknown tasks and the dead-letter commands."""

import io
import json
import sys
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from jobs.engine.setup import app as engine_app
from jobs.engine.wire.message import Message
from jobs.exceptions import WorkerLostError
from tests.conftest import wait_dead
from tests.testapp import tasks


def broker():
    return engine_app.current().broker


def jobs_command(*args):
    out = io.StringIO()
    call_command("jobs", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_a_child_that_dies_fails_its_task_with_worker_lost_error(start_worker, r):
    worker = start_worker("-c", "1")
    with pytest.raises(WorkerLostError, match="exited with code 1"):
        tasks.crash.delay("c1").get(timeout=10)
    assert int(r.get("runs:c1")) == 1  # not run again
    assert tasks.add.delay(1, 1).get(timeout=10) == 2  # the slot has a new child
    worker.wait_for("while running a task of tests.testapp.tasks.crash")


def test_reject_on_worker_lost_runs_again_until_max_deliveries_then_dead_letters(start_worker, r):
    worker = start_worker("-c", "1", settings={"MAX_DELIVERIES": 3})
    result = tasks.crash_again.delay("c2")
    worker.wait_for("moved to the dead letters|MAX_DELIVERIES|unfinished task", timeout=30)
    tasks.add.delay(0, 0).get(timeout=30)  # the worker is still serving
    [record] = [json.loads(v) for v in r.hvals(broker().keys.dead)]
    assert int(r.get("runs:c2")) == 3
    assert record["id"] == result.id and "delivered 3 times without finishing" in record["reason"]
    assert result.status == "PENDING" and broker().controls.queue_length("default") == 0


def test_an_unknown_task_is_kept_for_the_grace_period_then_dead_lettered(start_worker, r):
    worker = start_worker("-P", "solo", settings={"UNKNOWN_TASK_GRACE": 1})
    broker().sends.enqueue([Message(id="u2", task="shop.not_deployed", args=(1,))])
    worker.wait_for("not registered in this worker")
    worker.wait_for("moved to the dead letters", timeout=20)
    [record] = [json.loads(v) for v in r.hvals(broker().keys.dead)]
    assert record["id"] == "u2" and "UNKNOWN_TASK_GRACE" in record["reason"]


def test_dead_letter_commands(start_worker, r):
    worker = start_worker("-P", "solo")
    for i in range(3):
        broker().sends.enqueue([Message(id=f"bad{i}", task="tests.testapp.tasks.record",
                                  args=("requeued", i), content_type="pickle")])
    worker.wait_for("moved to the dead letters")
    tasks.add.delay(0, 0).get(timeout=10)  # FIFO: the three were handled before
    listing = jobs_command("dead", "list")
    assert "3 dead letter(s)" in listing and "bad0" in listing and "not in JOBS['ACCEPT_CONTENT']" in listing
    shown = jobs_command("dead", "show", "bad1")
    assert "tests.testapp.tasks.record" in shown and '"ct": "pickle"' in shown
    with pytest.raises(CommandError, match="no dead letter 'nope'"):
        jobs_command("dead", "show", "nope")
    worker.cleanup()
    assert "1 dead letter(s) back" in jobs_command("dead", "requeue", "bad0")
    assert broker().controls.queue_length("default") == 1 and broker().dead.count() == 2
    assert "2 dead letter(s) deleted" in jobs_command("dead", "purge", "--yes")
    assert broker().dead.count() == 0


def test_status_shows_queues_workers_and_queues_nobody_serves(start_worker, r):
    start_worker("-P", "solo", "-Q", "default")
    tasks.send_welcome.delay(1)  # queue "emails": no worker consumes it
    out = jobs_command("status")
    assert "emails: 1" in out and "1 alive" in out and "queues default" in out
    assert "WARNING: queue 'emails' has 1 waiting task(s) and no live worker consumes it" in out


def test_dead_letters_are_bounded_and_trimming_is_logged(start_worker, r):
    worker = start_worker("-P", "solo", settings={"DEAD_LETTERS_MAX": 2})
    for i in range(3):
        r.zadd(broker().keys.queue("default"), {f"garbage {i}".encode(): 9})
    r.rpush(broker().keys.wake("default"), 1)
    worker.wait_for(r"Dead letters are full \(DEAD_LETTERS_MAX=2\); the 1 oldest were dropped")
    assert broker().dead.count() == 2
    kept = {json.loads(v)["message"] for v in r.hvals(broker().keys.dead)}
    assert kept == {"garbage 1", "garbage 2"}


def test_dead_letters_of_one_task_id_are_each_kept(start_worker, r):
    """An id reused for two different calls of a task no worker knows (the second sent once the
    first was forgotten: SEND_DEDUP_SECONDS): both are kept, each under its own id, and each can be
    requeued."""
    from jobs import send_task

    worker = start_worker("-P", "solo", settings={"UNKNOWN_TASK_GRACE": 0})
    send_task("billing.charge", ["card-A", 100], task_id="invoice-42")
    worker.wait_for("moved to the dead letters")
    r.delete(broker().keys.sent("invoice-42"))  # as its expiry does, after SEND_DEDUP_SECONDS
    send_task("billing.charge", ["card-B", 999], task_id="invoice-42")
    worker.wait_count("moved to the dead letters", 2)
    listing = jobs_command("dead", "list")
    assert "2 dead letter(s)" in listing and "invoice-42#2" in listing
    first, second = jobs_command("dead", "show", "invoice-42"), jobs_command("dead", "show", "invoice-42#2")
    assert "card-A" in first and "card-B" in second and "task id  invoice-42" in second
    worker.cleanup()
    assert "1 dead letter(s) back" in jobs_command("dead", "requeue", "invoice-42#2")
    [wire] = r.zrange(broker().keys.queue("default"), 0, -1)
    assert b"|invoice-42|billing.charge|" in wire and b"card-B" in wire


def test_dead_purge_deletes_only_what_it_counted(start_worker, r, monkeypatch):
    worker = start_worker("-P", "solo", settings={"UNKNOWN_TASK_GRACE": 0})
    broker().sends.enqueue([Message(id="old", task="shop.not_deployed")])
    worker.wait_for("moved to the dead letters")

    def answer(prompt):
        assert "Delete all 1 dead letters?" in prompt
        broker().sends.enqueue([Message(id="arrived-while-asking", task="shop.not_deployed")])
        worker.wait_count("moved to the dead letters", 2)
        return "y"

    with pytest.raises(CommandError, match="pass --yes"):  # no terminal to ask on: nothing deleted
        jobs_command("dead", "purge")
    assert broker().dead.ids() == ["old"]
    monkeypatch.setattr("builtins.input", answer)  # the operator's keyboard
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    out = jobs_command("dead", "purge")
    assert "1 dead letter(s) deleted" in out and "1 dead letter(s) that arrived since were kept" in out
    assert broker().dead.ids() == ["arrived-while-asking"]


def test_a_message_handed_to_a_consumer_of_a_worker_just_killed_is_not_counted_as_lost(start_worker, r):
    """For about 3 s after a kill -9 its idle consumers still look alive and are handed messages.
    Such a message waits out its lease and runs elsewhere; it was never delivered, so it must not
    count towards MAX_DELIVERIES (a healthy message could reach the dead letters that way)."""
    fast = {"LEASE_SECONDS": 2, "MAX_DELIVERIES": 1}
    r.config_set("notify-keyspace-events", "Kh")  # an event for each write to the idle registrations
    events = r.pubsub(ignore_subscribe_messages=True)
    events.subscribe(f"__keyspace@0__:{broker().keys.idle}")
    try:
        killed = start_worker("-c", "1", settings=fast)
        event = None
        deadline = time.monotonic() + 10
        while event is None and time.monotonic() < deadline:  # the subscription's own reply comes first
            event = events.get_message(timeout=deadline - time.monotonic())
        assert event["data"] == b"hset"  # its consumer went idle: registered
    finally:
        events.close()
        r.config_set("notify-keyspace-events", "")
    children = killed.children()
    killed.kill9()
    wait_dead(children)  # its consumer dies with it, a moment later (PR_SET_PDEATHSIG)
    result = tasks.whoami.delay()
    assert r.hlen(broker().keys.idle) == 0 and broker().deliveries.inflight_count() == 1  # handed to the dead one
    start_worker("-c", "1", settings=fast)
    me = result.get(timeout=15)
    assert me["delivery_count"] == 1 and broker().dead.count() == 0
