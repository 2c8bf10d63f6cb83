"""Signed messages (JOBS["SIGNING_KEYS"], jobs/engine/wire/signing.py), through real workers: whoever
writes to Redis without a key cannot make a worker run a task, and keys rotate while work flows.

- a message written by hand in the right format but without a signature, a signed message whose
  arguments were changed, and one signed with a key the worker does not have: each goes to the dead
  letters as bad-signature, unread (its history row does not show its arguments), and is counted in
  the metrics; nothing of it runs;
- rotation: workers get [new, old] while the web still signs with old, then the web signs with new,
  then old is dropped everywhere; plain tasks, retries (re-sent by the workers) and chains (their
  next steps sent by the workers) sent throughout all finish, and nothing is refused.
"""

from __future__ import annotations

import signal

import pytest

from jobs import AsyncResult, chain, control
from jobs.engine.errors import ConfigurationError
from jobs.engine.ops.metrics import exposition
from jobs.engine.setup import app as engine_app
from jobs.engine.wire.message import Message
from jobs.models import TaskResult
from tests.acceptance.test_history import wait_rows
from tests.signed import signed
from tests.testapp import tasks

OLD = "old-key-" + "o" * 40
NEW = "new-key-" + "n" * 40
RECORD = "tests.testapp.tasks.record"
WHEN = 1_800_000_000.0


def written(task_id: str, value: str, key: bytes | None) -> bytes:
    """A message of `record` (which would leave evidence if it ran), written as the producer writes it."""
    return Message(id=task_id, task=RECORD, args=("signing", value), enqueued_at=WHEN).encode(key).encode()


def test_unsigned_tampered_and_foreign_messages_are_dead_as_bad_signature(start_worker, r, test_database_env):
    broker = engine_app.current().broker
    key = engine_app.current().config.signing_key
    assert key is not None  # signed by default: derived from SECRET_KEY
    good = written("tampered", "ran", key)
    assert good == signed(Message(id="tampered", task=RECORD, args=("signing", "ran"), enqueued_at=WHEN).encode())
    hand = {
        "unsigned": written("unsigned", "unsigned ran", None),
        "tampered": good.replace(b'"ran"', b'"tampered ran"'),  # its arguments changed
        "foreign": written("foreign", "foreign ran", b"a key no worker has, " + b"x" * 20),
    }
    for wire in hand.values():
        r.zadd(broker.keys.queue("default"), {wire: 0})
    worker = start_worker("-c", "1", env=test_database_env)
    worker.wait_count("moved to the dead letters", len(hand))
    after = tasks.add.delay(2, 3)  # sent after them, signed by this process: runs
    assert after.get(timeout=30) == 5

    letters = {d.task_id: d for d in control.monitor().dead_letters(100)}
    assert sorted(letters) == sorted(hand)
    for name, letter in letters.items():
        assert letter.reason.startswith("bad-signature: "), (name, letter.reason)
        assert letter.message == hand[name].decode()
    assert "is not signed" in letters["unsigned"].reason
    assert "by no key" in letters["tampered"].reason and "by no key" in letters["foreign"].reason
    assert not r.exists("signing")  # record() never ran
    assert int(r.hget(broker.keys.stats, "bad_signatures")) == 3
    assert "jobs_bad_signatures_total 3" in exposition(control.monitor().metrics())

    wait_rows(r, {**dict.fromkeys(hand, "REJECTED"), after.id: "SUCCESS"})
    for name in hand:  # never read, by the recorder either
        assert TaskResult.objects.get(task_id=name).args == '"<not shown: bad-signature>"', name


def test_a_site_with_no_keys_sends_and_runs_unsigned(start_worker, r, settings):
    settings.JOBS = {**settings.JOBS, "SIGNING_KEYS": []}
    engine_app.reset()
    r.zadd(engine_app.current().broker.keys.queue("default"), {written("by-hand", "ran", None): 0})
    start_worker("-c", "1", settings={"SIGNING_KEYS": []})
    assert AsyncResult("by-hand").get(timeout=30) == "ran"
    assert tasks.add.delay(1, 2).get(timeout=30) == 3


def _web_signs_with(settings, keys: list[str]) -> None:
    settings.JOBS = {**settings.JOBS, "SIGNING_KEYS": keys}
    engine_app.reset()


def _some_work(round_: int) -> list[tuple[AsyncResult, object]]:
    """Plain tasks, a retry the worker re-sends, a chain whose steps the workers send, a countdown."""
    sent: list[tuple[AsyncResult, object]] = [(tasks.add.delay(round_, i), round_ + i) for i in range(20)]
    sent.append((tasks.flaky.delay(f"rotation-{round_}", 2), {"retries": 2}))
    sent.append((chain(tasks.add.s(round_, 1), tasks.add.s(10), tasks.add.s(100)).delay(), round_ + 111))
    sent.append((tasks.add.apply_async((round_, 1000), countdown=0.2), round_ + 1000))
    return sent


def test_keys_rotate_while_work_flows_and_nothing_is_lost(start_worker, r, settings):
    _web_signs_with(settings, [OLD])
    old_worker = start_worker("-c", "2", settings={"SIGNING_KEYS": [OLD]})
    sent = _some_work(1)
    # 1. The workers learn the new key (sign with it, accept both): a new one up, the old one stops.
    both = start_worker("-c", "2", settings={"SIGNING_KEYS": [NEW, OLD]})
    sent += _some_work(2)  # the web still signs with the old key
    old_worker.signal(signal.SIGTERM)
    assert old_worker.wait(60) == 0
    sent += _some_work(3)
    # 2. The web signs with the new key.
    _web_signs_with(settings, [NEW, OLD])
    sent += _some_work(4)
    # 3. Once nothing signed with the old key waits, it goes: workers with [NEW] alone.
    for result, expected in sent:
        assert result.get(timeout=60) == expected
    new_only = start_worker("-c", "2", settings={"SIGNING_KEYS": [NEW]})
    both.signal(signal.SIGTERM)
    assert both.wait(60) == 0
    _web_signs_with(settings, [NEW])
    late = _some_work(5)
    for result, expected in late:
        assert result.get(timeout=60) == expected
    assert control.monitor().dead_letters(100) == []
    assert not r.hget(engine_app.current().broker.keys.stats, "bad_signatures")
    assert "moved to the dead letters" not in new_only.output + both.output + old_worker.output


def test_the_default_keys_come_from_secret_key_and_its_fallbacks(settings):
    from django.utils.crypto import salted_hmac

    from jobs.conf import SIGNING_SALT

    def derived(secret: str) -> bytes:
        return salted_hmac(SIGNING_SALT, "messages", secret=secret, algorithm="sha256").digest()

    assert engine_app.current().config.signing_keys == (derived("tests-only"),)
    settings.SECRET_KEY_FALLBACKS = ["an older secret"]
    engine_app.reset()
    assert engine_app.current().config.signing_keys == (derived("tests-only"), derived("an older secret"))
    _web_signs_with(settings, [NEW, OLD.encode()])
    assert engine_app.current().config.signing_keys == (NEW.encode(), OLD.encode())


@pytest.mark.parametrize("keys", [["too short"], "one-key-not-in-a-list-" + "x" * 40, [None], [b"x" * 31]])
def test_keys_that_cannot_sign_are_refused_at_start_up(settings, keys):
    settings.JOBS = {**settings.JOBS, "SIGNING_KEYS": keys}
    engine_app.reset()
    with pytest.raises(ConfigurationError, match="SIGNING_KEYS"):
        engine_app.current()
