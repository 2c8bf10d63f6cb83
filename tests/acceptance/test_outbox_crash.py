"""The outbox under kill -9 (issue 27's "done when"): processes send tasks, each in its own
transaction with a data row, and are killed at random points, among them exactly between COMMIT and
the Redis send. After a relay has run, the messages sent are the committed rows, one each: none lost,
none for a transaction that rolled back; and the tasks a worker then runs are those rows.

On SQLite by default, on PostgreSQL with JOBS_TEST_DATABASE_URL (tests/settings.py). The writers are
forked from this process (Django set up already: a fork costs a millisecond, a new interpreter half a
second), each one killing itself where it is told to.
"""

from __future__ import annotations

import os
import random
import signal
import time

import pytest
from django.contrib.auth.models import User
from django.db import connections, transaction
from django.test import override_settings

from jobs.engine.api import Header, Relay
from jobs.engine.setup import app as engine_app
from jobs.models import OutboxMessage
from tests.testapp import tasks

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

#: Where a writer kills itself, in the transaction of its `kill_at`-th order.
POINTS = ("before the send", "after the send, before COMMIT", "between COMMIT and the Redis send",
          "after the Redis send, before the row is forgotten", None)
N = 1200  # transactions begun, over all writers
PER_WRITER = 24
EVIDENCE = "outbox-crash"


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _write(writer: int, kill_at: int, point: str | None) -> None:
    """A writer's orders, in a forked child: `PER_WRITER` transactions, a user row and a task each,
    until it kills itself at `point` of its `kill_at`-th."""
    from jobs.engine.send import producer
    from jobs.stores.outbox_db import OutboxDatabase

    for j in range(PER_WRITER):
        name = f"{writer}-{j}"
        here = j == kill_at
        if here and point == "between COMMIT and the Redis send":
            producer._send_rows = lambda app, rows: _die()  # type: ignore[assignment]
        if here and point == "after the Redis send, before the row is forgotten":
            OutboxDatabase.sent = lambda self, alias, ids: _die()  # type: ignore[assignment, method-assign]
        with transaction.atomic():
            if here and point == "before the send":
                User.objects.create(username=name)
                _die()
            User.objects.create(username=name)
            tasks.record.delay(EVIDENCE, name)
            if here and point == "after the send, before COMMIT":
                _die()


def _run_writer(writer: int, rng: random.Random) -> int:
    point = rng.choice(POINTS)
    kill_at = rng.randrange(PER_WRITER)
    connections.close_all()  # never share a connection with a child
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            _write(writer, kill_at, point)
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if point is None:
        assert os.waitstatus_to_exitcode(status) == 0
    else:
        assert os.waitstatus_to_exitcode(status) == -signal.SIGKILL, (point, status)
    return PER_WRITER if point is None else kill_at + 1


@override_settings(JOBS={"OUTBOX": True, "ENQUEUE_TIMEOUT": 2})
def test_killed_anywhere_the_tasks_sent_are_the_committed_rows(r, start_worker, test_database_env):
    rng = random.Random(os.environ.get("JOBS_TEST_SEED", "27"))
    begun, writer = 0, 0
    while begun < N:
        begun += _run_writer(writer, rng)
        writer += 1
    committed = set(User.objects.values_list("username", flat=True))
    left = OutboxMessage.objects.count()
    assert 0 < len(committed) < begun and left > 0  # kills before COMMIT and between COMMIT and the send both hit

    app = engine_app.current()
    assert Relay(app, app.outbox, "test").sweep(older_than=float("inf")) == left
    assert not OutboxMessage.objects.exists()
    sent = [Header(w.decode()).envelope for w in r.zrange(f"{{{app.config.key_prefix}}}:queue:default", 0, -1)]
    names = [next(a for a in _args(e) if a != EVIDENCE) for e in sent]
    assert len(names) == len(set(names))  # each once: a relay sending again what was sent is a no-op
    assert set(names) == committed  # 0 lost, 0 sent for a rolled-back transaction

    start_worker("-c", "4", env=test_database_env)
    ran = []
    while len(ran) < len(committed):
        popped = r.blpop([EVIDENCE], timeout=60)
        assert popped is not None, f"{len(ran)} of {len(committed)} ran"
        ran.append(popped[1].decode().split(":")[0])
    assert sorted(ran) == sorted(committed)
    assert app.broker.controls.queue_length("default") == 0  # nothing more to run: no duplicate to come
    print(f"\n{writer} writers, {begun} transactions begun, {len(committed)} committed, {left} left to the relay")


def _args(envelope: str) -> list[str]:
    import json

    doc = json.loads(envelope)
    return doc if isinstance(doc, list) else doc["a"]


@override_settings(JOBS={"OUTBOX": True})
def test_a_workers_relay_sends_what_a_killed_writer_left(r, start_worker, test_database_env):
    connections.close_all()
    pid = os.fork()
    if pid == 0:
        from jobs.engine.send import producer

        producer._send_rows = lambda app, rows: _die()  # type: ignore[assignment]
        try:
            with transaction.atomic():
                User.objects.create(username="left")
                tasks.record.delay(EVIDENCE, "left")
        finally:
            os._exit(1)
    os.waitpid(pid, 0)
    assert OutboxMessage.objects.count() == 1 and User.objects.filter(username="left").exists()
    start_worker("-c", "1", settings={"OUTBOX": True}, env=test_database_env)
    popped = r.blpop([EVIDENCE], timeout=30)
    assert popped is not None and popped[1].decode().startswith("left:")
    deadline = time.monotonic() + 10
    while OutboxMessage.objects.exists():  # the relay forgets the row as its transaction commits, just after the send
        assert time.monotonic() < deadline, "the relay sent the row but did not forget it"
        time.sleep(0.05)  # a row deleted by another process: no event to wait on
