"""The outbox (JOBS["OUTBOX"], issue 27): a task sent inside a transaction is a row of that
transaction, sent once it commits, by the sender right after COMMIT or else by a relay; never if it
rolls back. Everything a message carries goes through it as it would have been sent."""

from __future__ import annotations

import json
import time

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings

from jobs import chain, group
from jobs.engine.api import Relay
from jobs.engine.setup import app as engine_app
from jobs.models import OutboxMessage
from tests.testapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)
OUTBOX = {"OUTBOX": True}


def waiting() -> int:
    broker = engine_app.current().broker
    return broker.controls.queue_length("default") + broker.scheduled.count()


def relay() -> int:
    app = engine_app.current()
    return Relay(app, app.outbox, "test").sweep(older_than=float("inf"))


@override_settings(JOBS=OUTBOX)
def test_a_send_inside_a_transaction_is_a_row_of_it_and_is_sent_right_after_commit(r):
    with transaction.atomic():
        User.objects.create(username="order-1")
        result = tasks.add.delay(1, 2)
        assert waiting() == 0
        [row] = OutboxMessage.objects.all()
        assert row.message_id == result.id and row.queue == "default" and row.wire.split("|")[2]
    assert waiting() == 1 and not OutboxMessage.objects.exists()


@override_settings(JOBS=OUTBOX)
def test_a_rolled_back_transaction_sends_nothing_and_leaves_no_row(r):
    with pytest.raises(ValueError):
        with transaction.atomic():
            User.objects.create(username="order-2")
            tasks.add.delay(1, 2)
            tasks.add.delay_on_commit(3, 4)
            raise ValueError("the view failed after sending")
    assert relay() == 0
    assert waiting() == 0 and not OutboxMessage.objects.exists() and not User.objects.exists()


@override_settings(JOBS=OUTBOX)
def test_a_rolled_back_savepoint_drops_only_its_own_rows(r):
    with transaction.atomic():
        tasks.add.delay(1, 1)
        try:
            with transaction.atomic():
                tasks.add.delay(2, 2)
                raise ValueError
        except ValueError:
            pass
        assert OutboxMessage.objects.count() == 1
    assert waiting() == 1


@override_settings(JOBS=OUTBOX)
def test_outside_a_transaction_it_is_sent_at_once_with_no_row(r):
    tasks.add.delay(1, 1)
    assert waiting() == 1 and not OutboxMessage.objects.exists()


@override_settings(JOBS={**OUTBOX, "EAGER": True})
def test_eager_mode_runs_it_at_commit_and_writes_no_row(r):
    with transaction.atomic():
        result = tasks.add.delay(2, 3)
        assert result.status == "PENDING" and not OutboxMessage.objects.exists()
    assert result.get() == 5


def test_per_call_outbox_without_the_setting(r):
    with transaction.atomic():
        tasks.add.apply_async((1, 1), outbox=True)
        tasks.add.delay(2, 2)  # the setting is off: sent now, as always
        assert OutboxMessage.objects.count() == 1 and waiting() == 1
    assert waiting() == 2


@override_settings(JOBS=OUTBOX)
def test_on_commit_false_is_sent_now_even_with_the_outbox_on(r):
    with transaction.atomic():
        tasks.add.apply_async((1, 1), on_commit=False)
        assert waiting() == 1 and not OutboxMessage.objects.exists()


def test_using_names_a_database_and_an_unknown_one_is_refused(r):
    with pytest.raises(ValueError, match="using='nowhere' names no database"):
        tasks.add.apply_async((1, 1), outbox=True, using="nowhere")
    with transaction.atomic(using="default"):
        tasks.add.apply_async((1, 1), outbox=True, using="default")
        assert OutboxMessage.objects.using("default").count() == 1
    assert waiting() == 1


@override_settings(JOBS={**OUTBOX, "ENQUEUE_TIMEOUT": 0.2})
def test_committed_while_redis_is_away_it_is_sent_once_redis_is_back(r, redis_server):
    redis_server.stop()
    try:
        with transaction.atomic():
            User.objects.create(username="order-3")
            result = tasks.add.delay(2, 3)
        assert OutboxMessage.objects.get().message_id == result.id  # committed: kept for the relay
    finally:
        redis_server.start()
    r.ping()
    assert relay() == 1
    assert waiting() == 1 and not OutboxMessage.objects.exists()
    assert relay() == 0


@override_settings(JOBS=OUTBOX)
def test_the_relay_sending_again_what_the_fast_path_sent_adds_nothing(r):
    """The writer sent it and died before forgetting its row: the relay's send is a no-op (an id is
    sent once, lua/enqueue.lua)."""
    with transaction.atomic():
        tasks.add.delay(1, 1)
        kept = list(OutboxMessage.objects.values())
    assert waiting() == 1
    OutboxMessage.objects.bulk_create([OutboxMessage(**row) for row in kept])  # as if never deleted
    assert relay() == 1
    assert waiting() == 1 and not OutboxMessage.objects.exists()


@override_settings(JOBS=OUTBOX)
def test_the_relay_skips_rows_younger_than_the_fast_paths_window(r):
    with transaction.atomic():
        tasks.add.delay(1, 1)
        kept = list(OutboxMessage.objects.values())
    r.flushall()
    OutboxMessage.objects.bulk_create([OutboxMessage(**row) for row in kept])
    app = engine_app.current()
    assert Relay(app, app.outbox, "test").sweep() == 0  # written just now: the fast path's
    assert Relay(app, app.outbox, "test", clock=lambda: time.time() + 60).sweep() == 1


@override_settings(JOBS=OUTBOX)
def test_countdown_priority_queue_and_expiry_travel_through_it(r):
    with transaction.atomic():
        tasks.add.apply_async((1, 1), countdown=60, priority=7, queue="math", expires=600)
        tasks.send_welcome.delay(5)  # routed by its @task to "emails"
    broker = engine_app.current().broker
    assert broker.scheduled.count() == 1
    [(entry, due)] = r.zrange(engine_app.current().keys.scheduled, 0, -1, withscores=True)
    assert entry.decode().startswith("2|math|") and due > time.time() * 1000 + 50_000
    assert broker.controls.queue_length("emails") == 1


@override_settings(JOBS=OUTBOX)
def test_a_countdown_kept_by_the_relay_counts_from_when_it_was_written(r):
    with transaction.atomic():
        tasks.add.apply_async((1, 1), countdown=60)
    r.flushall()
    row = OutboxMessage(message_id="late", task=tasks.add.name, queue="default", score=9,
                        wire=f"{int(time.time() * 1e6):013x}|0|late|{tasks.add.name}|[1,1]", due="+60000",
                        delayed=True, created=time.time() - 50)
    row.save()
    assert relay() == 1
    [(_, due)] = r.zrange(engine_app.current().keys.scheduled, 0, -1, withscores=True)
    assert due < time.time() * 1000 + 12_000  # ten seconds or so left, not sixty


@override_settings(JOBS=OUTBOX)
def test_a_unique_task_keeps_its_lock_through_the_outbox(r):
    with transaction.atomic():
        first = tasks.add.apply_async((1, 1), unique_key="k", unique_for=60)
    with transaction.atomic():
        tasks.add.apply_async((1, 1), unique_key="k", unique_for=60)
    assert waiting() == 1
    assert r.get(engine_app.current().keys.unique(tasks.add.name, "k")).decode() == first.id


@override_settings(JOBS=OUTBOX)
def test_workflows_sent_inside_a_transaction(r):
    with transaction.atomic():
        chain(tasks.add.s(1, 2), tasks.add.s(3)).apply_async()
        group(tasks.add.s(1, 2), tasks.add.s(3, 4)).delay()
        assert OutboxMessage.objects.count() == 3 and waiting() == 0
    assert waiting() == 3


@override_settings(JOBS=OUTBOX)
def test_django_tasks_enqueue_inside_atomic(r):
    pytest.importorskip("tests.djangotasks.tasks")
    from tests.djangotasks.tasks import noop_task

    with transaction.atomic():
        result = noop_task.enqueue()
        assert OutboxMessage.objects.count() == 1 and waiting() == 0
        assert result.id == OutboxMessage.objects.get().message_id
    assert waiting() == 1
    assert noop_task.get_backend().get_result(result.id).status == "READY"  # its READY record went with it


@override_settings(JOBS=OUTBOX)
def test_enqueue_many_inside_atomic(r):
    from jobs import enqueue_many

    with transaction.atomic():
        enqueue_many([(tasks.add, (i, i), {}) for i in range(5)])
        assert OutboxMessage.objects.count() == 5
    assert waiting() == 5


@override_settings(JOBS=OUTBOX)
def test_a_row_redis_refuses_goes_to_the_dead_letters_with_its_reason_not_retried(r):
    from jobs import control, inspection

    OutboxMessage.objects.create(message_id="bad", task=tasks.add.name, queue="default", score=9,
                                 wire=f"{int(time.time() * 1e6):013x}|0|bad|{tasks.add.name}|[1,1]",
                                 unique_key="{jobs}:unique:x:y", unique_ms=-5, created=time.time() - 60)
    with transaction.atomic():
        tasks.add.delay(1, 1)
    OutboxMessage.objects.create(message_id="good", task=tasks.add.name, queue="default", score=9,
                                 wire=f"{int(time.time() * 1e6):013x}|0|good|{tasks.add.name}|[2,2]",
                                 created=time.time() - 60)
    assert relay() == 2
    assert not OutboxMessage.objects.exists() and waiting() == 2
    [letter] = inspection.dead_letters(10, 0)[0]
    assert letter.id == "bad" and "the outbox could not send it: ResponseError" in letter.reason
    assert relay() == 0
    assert control.requeue_dead("bad") == 1 and waiting() == 3  # as every dead letter is


@override_settings(JOBS=OUTBOX)
def test_a_row_that_cannot_even_be_buried_is_set_aside_in_the_database(r, monkeypatch):
    import redis as redis_py

    from jobs.engine.redis.dead_letters import DeadLetters

    def refuse(*args, **kwargs):
        raise redis_py.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")

    monkeypatch.setattr(DeadLetters, "bury_unsent", refuse)
    OutboxMessage.objects.create(message_id="bad", task=tasks.add.name, queue="default", score=9,
                                 wire=f"{int(time.time() * 1e6):013x}|0|bad|{tasks.add.name}|[1,1]",
                                 unique_key="{jobs}:unique:x:y", unique_ms=-5, created=time.time() - 60)
    assert relay() == 1
    row = OutboxMessage.objects.get()
    assert row.dead and "could not be moved to the dead letters: ResponseError: WRONGTYPE" in row.reason
    assert relay() == 0 and engine_app.current().outbox.backlog().dead == 1


@override_settings(JOBS=OUTBOX)
def test_runrelay_once_sends_what_is_left(r, capsys):
    with transaction.atomic():
        tasks.add.delay(1, 1)
        kept = list(OutboxMessage.objects.values())
    r.flushall()
    OutboxMessage.objects.bulk_create([OutboxMessage(**row) for row in kept])
    call_command("runrelay", "--once")
    assert "1 message(s) sent" in capsys.readouterr().out
    assert waiting() == 1 and not OutboxMessage.objects.exists()


@override_settings(JOBS=OUTBOX)
def test_the_backlog_counts_rows_and_the_oldest(r):
    store = engine_app.current().outbox
    assert store.backlog().waiting == 0 and store.backlog().oldest is None
    OutboxMessage.objects.create(message_id="x", task="t", queue="default", wire="w", created=100.0,
                                 records=json.dumps([["k", "v"]]))
    backlog = store.backlog()
    assert backlog.waiting == 1 and backlog.oldest == 100.0 and backlog.dead == 0


TOKEN = "t" * 40


def _stuck_row() -> None:
    OutboxMessage.objects.create(message_id="old", task=tasks.add.name, queue="default", score=9,
                                 wire=f"{int(time.time() * 1e6):013x}|0|old|{tasks.add.name}|[1,1]",
                                 created=time.time() - 120)


@override_settings(JOBS={**OUTBOX, "METRICS_TOKEN": TOKEN})
def test_metrics_show_the_backlog_and_its_oldest(r, client):
    _stuck_row()
    text = client.get("/jobs/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    assert "jobs_outbox_backlog 1" in text and "jobs_outbox_dead 0" in text
    [age] = [line.split()[1] for line in text.splitlines() if line.startswith("jobs_outbox_oldest_seconds ")]
    assert 119 < float(age) < 200


@override_settings(JOBS={**OUTBOX, "METRICS_TOKEN": TOKEN})
def test_health_fails_while_no_relay_sends_and_passes_once_one_has(r, client):
    _stuck_row()
    response = client.get("/jobs/health", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    [check] = [c for c in response.json()["checks"] if c["name"] == "outbox"]
    assert not check["ok"] and "no relay is sending them" in check["detail"]
    assert relay() == 1
    response = client.get("/jobs/health", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    [check] = [c for c in response.json()["checks"] if c["name"] == "outbox"]
    assert check["ok"]


@override_settings(JOBS=OUTBOX)
def test_the_console_shows_the_outbox_and_the_admin_its_rows(r, admin_client):
    _stuck_row()
    page = admin_client.get("/admin/jobs/console/").content.decode()
    assert "in the outbox" in page and "/admin/jobs/outboxmessage/" in page
    listing = admin_client.get("/admin/jobs/outboxmessage/").content.decode()
    assert "old" in listing and tasks.add.name in listing


def test_a_dedup_window_shorter_than_the_relays_pauses_is_warned_of():
    from jobs.checks import check_outbox_dedup

    with override_settings(JOBS={**OUTBOX, "SEND_DEDUP_SECONDS": 12, "ENQUEUE_TIMEOUT": 1}):
        [warning] = check_outbox_dedup()
        assert warning.id == "jobs.W011" and "SEND_DEDUP_SECONDS 12" in warning.msg
    with override_settings(JOBS=OUTBOX):
        assert check_outbox_dedup() == []


@override_settings(JOBS=OUTBOX)
def test_redis_out_of_memory_passes_and_sets_no_row_aside(r):
    """OOM, READONLY, LOADING...: Redis's state, not the message's; the rows wait for the next sweep."""
    OutboxMessage.objects.create(message_id="oom", task=tasks.add.name, queue="default", score=9,
                                 wire=f"{int(time.time() * 1e6):013x}|0|oom|{tasks.add.name}|[1,1]",
                                 created=time.time() - 60)
    assert r.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    r.config_set("maxmemory", "1")
    try:
        with pytest.raises(Exception, match="maxmemory"):
            relay()
    finally:
        r.config_set("maxmemory", "0")
    assert not OutboxMessage.objects.get().dead
    assert relay() == 1 and waiting() == 1
