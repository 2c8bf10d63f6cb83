"""@task(encrypt=True) (jobs/engine/wire/sealing.py), through a real worker: its arguments, a retry's
message and its result are never in the clear in Redis (every key scanned, every value read) nor on
the console's pages or in the task history, while result.get() reads the result; a workflow with such
a task is refused at the call; a site without keys cannot send one.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from jobs import chain
from jobs.engine.errors import ConfigurationError, EncodeError, Encrypted
from jobs.engine.setup import app as engine_app
from jobs.engine.wire.message import Message, decode
from jobs.engine.wire.outcome import SUCCESS, Outcome
from jobs.engine.wire.outcome import decode as decode_result
from jobs.engine.wire.outcome import encode as encode_result
from jobs.models import TaskResult
from tests.acceptance.test_history import wait_rows
from tests.testapp import tasks

CARD = "4111-1111-1111-1111"
NOTE = "card holder Ada Lovelace"


def everything_in(r) -> bytes:
    """Every key and every value Redis holds, as bytes (strings, lists, sets, hashes, sorted sets, streams)."""
    out = []
    for key in r.scan_iter(count=1000):
        out.append(key)
        kind = r.type(key)
        if kind == b"string":
            out.append(r.get(key) or b"")
        elif kind == b"list":
            out += r.lrange(key, 0, -1)
        elif kind == b"set":
            out += r.smembers(key)
        elif kind == b"zset":
            out += r.zrange(key, 0, -1)
        elif kind == b"hash":
            for field, value in r.hgetall(key).items():
                out += [field, value]
        elif kind == b"stream":
            for _, fields in r.xrange(key):
                for field, value in fields.items():
                    out += [field, value]
    return b"\n".join(out)


def test_encrypted_arguments_and_results_never_appear_in_redis_or_the_console(start_worker, r, test_database_env):
    waiting = tasks.charge.apply_async((CARD, 42), {"note": NOTE}, countdown=3600)  # waits, sealed
    assert CARD.encode() not in everything_in(r) and NOTE.encode() not in everything_in(r)
    worker = start_worker("-c", "1", env=test_database_env)
    result = tasks.charge.delay(CARD, 42, note=NOTE)
    assert result.get(timeout=30) == f"receipt: 42 on {CARD} ({NOTE})"  # opened with the keys
    dumps = [everything_in(r)]  # the history stream may still hold the outcome: read before it is recorded
    wait_rows(r, {result.id: "SUCCESS"})
    dumps.append(everything_in(r))
    for dump in dumps:
        assert b"4111" not in dump and b"Lovelace" not in dump, "a secret is in the clear in Redis"
    row = TaskResult.objects.get(task_id=result.id)
    assert row.args == '"encrypted"' and row.kwargs == '"encrypted"' and row.result == '"encrypted"'
    assert row.retries == 1 and not row.args_complete
    assert "4111" not in worker.output and "Lovelace" not in worker.output

    client = Client()
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    for page in (f"/admin/jobs/console/tasks/{result.id}/", f"/admin/jobs/console/tasks/{waiting.id}/",
                 "/admin/jobs/console/scheduled/", "/admin/jobs/console/tasks/",
                 f"/admin/jobs/taskresult/{row.pk}/change/"):
        answer = client.get(page)
        assert answer.status_code == 200, page
        assert b"4111" not in answer.content and b"Lovelace" not in answer.content, page
    assert b"encrypted" in client.get(f"/admin/jobs/console/tasks/{result.id}/").content


def test_a_workflow_with_an_encrypted_task_is_refused_at_the_call(r):
    for call in (lambda: chain(tasks.add.s(1, 2), tasks.charge.s(CARD)).delay(),
                 lambda: chain(tasks.charge.s(CARD, 1), tasks.add.s(2)).delay(),
                 lambda: tasks.charge.apply_async((CARD, 1), link=tasks.add.s(1))):
        with pytest.raises(ConfigurationError, match="encrypt=True.*cannot be part of a chain"):
            call()
    assert not any(r.scan_iter())


def test_without_keys_an_encrypted_task_cannot_be_sent(r, settings):
    settings.JOBS = {**settings.JOBS, "SIGNING_KEYS": []}
    engine_app.reset()
    with pytest.raises(EncodeError, match="encrypt=True, which needs JOBS\\['SIGNING_KEYS'\\]"):
        tasks.charge.delay(CARD, 1)
    assert not any(r.scan_iter())


def test_eager_mode_runs_an_encrypted_task(r, settings):
    settings.JOBS = {**settings.JOBS, "EAGER": True}
    engine_app.reset()
    assert tasks.charge.delay("eager-card", 3).get() == "receipt: 3 on eager-card ()"


def test_sealed_values_open_with_any_key_of_the_list_and_with_no_other():
    """Rotation as for signing: sealed with the first key, opened with whichever sealed it."""
    old, new, other = b"o" * 32, b"n" * 32, b"x" * 32
    message = Message(id="m1", task="tests.testapp.tasks.charge", args=(CARD, 1), encrypted=True)
    wire = message.encode(old)
    assert CARD not in wire
    assert decode(wire, "default", ("json",), (new, old)).args == (CARD, 1)
    with pytest.raises(Encrypted):  # no keys given (the console's reading): not opened
        decode(wire, "default", ("json",))
    result = encode_result(Outcome(SUCCESS, value=CARD), "tests.testapp.tasks.charge", "json", "w", None, True, old)
    assert CARD not in result
    assert decode_result(result, ("json",), (new, old)).value == CARD
    assert decode_result(result, ("json",)).value == "encrypted"  # the console and the history: not opened
    with pytest.raises(Encrypted):
        decode_result(result, ("json",), (new, other))
