"""Bad input at each door gets a clear error, naming the task and what is wrong, and changes nothing:

- enqueue: an unknown or refused serializer, an argument JSON cannot carry, arguments over
  JOBS["MESSAGE_MAX_BYTES"]: refused at the call, nothing written to Redis;
- the wire: a message written into a queue (or the scheduled set) by hand, broken in every way we
  could think of: a real worker moves each to the dead letters with the reason, never loops on it,
  and runs an ordinary task sent after them; the console and the CLI show them;
- the admin: a cron field cron would not take is a form error, not a 500.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import redis
from django.contrib.auth.models import User
from django.test import Client

from jobs import control
from jobs.engine.errors import ConfigurationError, EncodeError
from jobs.engine.send.asyncresult import AsyncResult
from jobs.engine.send.producer import enqueue_many, send_task
from jobs.engine.setup import app as engine_app
from jobs.models import CrontabSchedule
from tests.acceptance.test_history import wait_rows
from tests.conftest import ROOT
from tests.signed import signed, signed_entry
from tests.testapp import tasks


def keys(r: redis.Redis) -> list[bytes]:
    return sorted(r.keys("*"))


# -- enqueue ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("serializer", ["yaml", "pickle", "", "JSON"])
def test_a_serializer_that_is_unknown_or_refused_is_an_error_at_the_call(r, serializer):
    with pytest.raises((ConfigurationError, ValueError)) as info:
        tasks.add.apply_async((1, 2), serializer=serializer)
    text = str(info.value)
    assert "tests.testapp.tasks.add" in text and repr(serializer) in text, text
    assert "ACCEPT_CONTENT" in text or "use 1-200 characters" in text, text
    if serializer in ("yaml", "JSON"):
        assert "jobs serializes with json or pickle" in text, text
    if serializer == "pickle":
        assert "add it there" in text, text
    assert keys(r) == []


class Opaque:
    pass


@pytest.mark.parametrize(("call", "where"), [
    (lambda: tasks.add.delay(Opaque(), 2), "args[0]"),
    (lambda: tasks.echo.delay(1, note={"when": [1, {2, 3}]}), "kwargs['note']['when'][1]"),
    (lambda: tasks.echo.apply_async((), {"f": open}), "kwargs['f']"),
    (lambda: send_task("tests.testapp.tasks.echo", [b"ok", object()]), "args[1]"),
    (lambda: enqueue_many([(tasks.add, (1, 2), {}), (tasks.echo, (), {"x": Opaque()})]), "kwargs['x']"),
    (lambda: tasks.echo.s(Opaque()).delay(), "args[0]"),
])
def test_an_argument_json_cannot_carry_is_named_with_its_task_and_nothing_is_sent(r, call, where):
    with pytest.raises(EncodeError) as info:
        call()
    text = str(info.value)
    assert "tests.testapp.tasks." in text and where in text, text
    assert keys(r) == []  # enqueue_many: not the first call either


def test_arguments_over_the_limit_are_refused_at_the_call(r, settings):
    settings.JOBS = {**settings.JOBS, "MESSAGE_MAX_BYTES": 1_000_000}
    engine_app.reset()
    with pytest.raises(EncodeError) as info:
        tasks.echo.delay("x" * 1_000_001)
    text = str(info.value)
    assert "tests.testapp.tasks.echo" in text and "MESSAGE_MAX_BYTES" in text and "1,000,000" in text, text
    with pytest.raises(EncodeError, match="tests.testapp.tasks.echo.*MESSAGE_MAX_BYTES"):
        tasks.echo.delay("é" * 500_001)  # bytes, not characters: 1,000,002 in UTF-8
    with pytest.raises(EncodeError, match="tests.testapp.tasks.echo.*MESSAGE_MAX_BYTES"):
        tasks.echo.apply_async(("x" * 1_000_001,), countdown=60)
    with pytest.raises(EncodeError, match="tests.testapp.tasks.add.*MESSAGE_MAX_BYTES"):
        enqueue_many([(tasks.add, (1, 2), {}), (tasks.add, ("x" * 1_000_001, 1), {})])
    with pytest.raises(EncodeError, match=r"tests.testapp.tasks.sync_shop.*largest argument is args\[0\]"):
        tasks.sync_shop.delay("x" * 1_000_001)  # a unique task: its lock is not taken either
    with pytest.raises(EncodeError, match=r"largest argument is kwargs\['blob'\], 1,000,003 bytes"):
        tasks.echo.apply_async((1,), {"blob": "x" * 1_000_001}, on_commit=True)  # at the call, not at commit
    assert keys(r) == []
    tasks.echo.delay("x" * 900_000)  # under it: sent
    assert engine_app.current().broker.controls.queue_length("default") == 1


@pytest.mark.parametrize("value", [10, 2**40, "64MB", 1.5e6, None])
def test_the_limit_is_checked_as_a_setting(value, settings):
    settings.JOBS = {**settings.JOBS, "MESSAGE_MAX_BYTES": value}
    engine_app.reset()
    with pytest.raises(ConfigurationError, match="MESSAGE_MAX_BYTES"):
        engine_app.current()


def test_the_default_limit_takes_ten_megabytes(r):
    assert engine_app.current().config.message_max_bytes == 64 * 2**20
    tasks.echo.delay("x" * 10 * 2**20)
    assert engine_app.current().broker.controls.queue_length("default") == 1
    with pytest.raises(EncodeError, match="MESSAGE_MAX_BYTES"):
        tasks.echo.delay("x" * 64 * 2**20)


# -- the wire: messages broken by hand -------------------------------------------------------------

ADD = "tests.testapp.tasks.add"


def wire(task_id: str, envelope: str) -> bytes:
    return f"0000000000001|0|{task_id}|{ADD}|{envelope}".encode()


#: name -> (a message no sender of ours writes, what the reason it is dead says).
BROKEN: dict[str, tuple[bytes, str]] = {
    "no header": (b"garbage that is no message", "bad header"),
    "not UTF-8": (b"\xff\xfe|0|x|y|[]", "not UTF-8"),
    "bad count": (b"0000000000001|many|bad-count|" + ADD.encode() + b"|[1,2]", "bad header"),
    "not JSON": (wire("not-json", "[1, 2"), "broken envelope: Expecting"),
    "a number": (wire("a-number", "42"), "an envelope is an object or an array, not int"),
    "args not a list": (wire("args-int", '{"a": 5}'), 'arguments ("a") are int, not a list'),
    "kwargs a list": (wire("kwargs-list", '{"a": [1], "k": [2]}'), 'keyword arguments ("k") are list'),
    "bad chain": (wire("bad-chain", '{"a": [1, 2], "o": {"chain": 5}}'), "broken envelope"),
    "bad link": (wire("bad-link", '{"a": [1, 2], "o": {"link": [{"x": 1}]}}'), "broken envelope"),
    "text limit": (wire("text-limit", '{"a": [1, 2], "o": {"time_limit": "soon"}}'), "time_limit is 'soon'"),
    "infinite limit": (wire("inf-limit", '{"a": [1, 2], "o": {"soft_time_limit": 1e999}}'), "soft_time_limit is inf"),
    "NaN countdown": (wire("nan-cd", '{"a": [1, 2], "cd": NaN}'), "'cd' is nan"),
    "text priority": (wire("text-prio", '{"a": [1, 2], "p": "high"}'), "'p' is 'high'"),
    "text retries": (wire("text-retries", '{"a": [1, 2], "r": "x"}'), "'r' is 'x'"),
    "bad expiry": (wire("bad-xp", '{"a": [1, 2], "xp": {"in": "never"}}'), 'expiry ("xp")'),
    "unknown content type": (wire("bad-ct", '{"ct": "yaml", "b": "x"}'), "'yaml' is not in JOBS['ACCEPT_CONTENT']"),
    "pickle not accepted": (wire("pickled", '{"ct": "pickle", "b": "gASVAAAA"}'), "'pickle' is not in"),
    "bad tag": (wire("bad-tag", '[{"$jobs": "dt", "v": "yesterday"}, 1]'), "Invalid isoformat"),
    "nested 5,000 deep": (wire("deep", "[" * 5000 + "]" * 5000), "is nested too deeply to be read"),
}
#: Entries of the scheduled set ("score|queue|wire"), broken; due at once.
BROKEN_SCHEDULED = (b"no bars at all", b"nan|default|" + wire("nan-score", "[1, 2]"),
                    b"9||" + wire("no-queue", "[1, 2]"))


def test_broken_messages_go_to_the_dead_letters_and_the_worker_goes_on(start_worker, r, test_database_env):
    """Written into a queue and into the scheduled set by hand. Before: a score Lua reads and Redis
    refuses ("nan", " 9") failed the scripts of every worker on every call (nothing ran again), a
    dead letter that was not UTF-8 made every reader of the dead letters fail, and a text or an
    infinity where a number belongs failed inside the worker (half-way into its books) or ran."""
    broker = engine_app.current().broker
    # Signed as the producer signs (tests/signed.py): each tests what it is broken in, not its signature.
    broken = {name: (signed(message), reason) for name, (message, reason) in BROKEN.items()}
    for message, _ in broken.values():
        r.zadd(broker.keys.queue("default"), {message: 0})  # priority 9: before what is sent below
    for entry in BROKEN_SCHEDULED:
        r.zadd(broker.keys.scheduled, {signed_entry(entry): 0})
    r.zadd(broker.keys.scheduled, {signed_entry(b" 9|default|" + wire("spaced-score", "[1, 2]")): 0})  # readable
    worker = start_worker("-c", "1", env=test_database_env)
    worker.wait_count("moved to the dead letters", len(BROKEN))
    # Sent after them: run. The one due later is promoted after the broken entries due before it.
    first, later = tasks.add.delay(2, 3), tasks.add.apply_async((4, 4), countdown=0.01)
    assert first.get(timeout=30) == 5 and later.get(timeout=30) == 8
    assert AsyncResult("spaced-score").get(timeout=30) == 3

    letters = {d.message: d for d in control.monitor().dead_letters(100)}
    assert len(letters) == len(BROKEN) + len(BROKEN_SCHEDULED), sorted(letters)
    for name, (message, reason) in broken.items():
        letter = letters[message.decode("utf-8", "replace")]
        assert reason in letter.reason, (name, letter.reason)
    for entry in BROKEN_SCHEDULED:
        assert "unreadable entry" in letters[signed_entry(entry).decode()].reason
    assert "Redis call failed" not in worker.output and broker.controls.queue_length("default") == 0
    assert broker.scheduled.count() == 0 and broker.deliveries.inflight_count() == 0

    # The history (the worker's recorder) and every reader of the dead letters go on too.
    readable = ["not-json", "text-limit", "inf-limit", "kwargs-list", "deep", "bad-tag"]
    wait_rows(r, {**dict.fromkeys((first.id, later.id), "SUCCESS"), **dict.fromkeys(readable, "REJECTED")})
    assert "the history recorder crashed" not in worker.output
    staff = User.objects.create_superuser("admin", "a@example.com", "pw")
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/jobs/console/dead/").status_code == 200
    for letter in letters.values():
        page = client.get(f"/admin/jobs/console/dead/{letter.id}/")
        assert page.status_code == 200 and letter.id.encode() in page.content
    cli = subprocess.run([sys.executable, "manage.py", "jobs", "dead", "list", "--limit", "100"], cwd=ROOT,
                         env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}, capture_output=True,
                         text=True, timeout=60)
    assert cli.returncode == 0 and "bad header" in cli.stdout, cli.stderr


# -- the admin: schedules --------------------------------------------------------------------------

CRON = {"minute": "0", "hour": "3", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*",
        "timezone": "UTC"}


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "value"), [
    ("minute", "60"), ("minute", "*/0"), ("minute", "5-1"), ("minute", "1-"), ("minute", "a"), ("minute", "²"),
    ("minute", "١"), ("minute", "1," * 200 + "1"), ("minute", "*/-1"), ("minute", ""), ("minute", "* *"),
    ("hour", "24"), ("hour", "-1"), ("hour", "0x1"), ("hour", "1e1"), ("day_of_week", "8"), ("day_of_week", "mon-"),
    ("day_of_week", "funday"), ("day_of_month", "0"), ("day_of_month", "32"), ("month_of_year", "13"),
    ("month_of_year", "jan/0"), ("timezone", "Mars/Olympus"), ("timezone", "../../etc/passwd"),
    ("timezone", "<script>"),
])
def test_a_cron_field_cron_would_not_take_is_a_form_error(r, field, value):
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    page = client.post("/admin/jobs/crontabschedule/add/", {**CRON, field: value})
    assert page.status_code == 200, (field, value, page.status_code)
    assert b"errorlist" in page.content and CrontabSchedule.objects.count() == 0, (field, value)
    good = client.post("/admin/jobs/crontabschedule/add/", CRON)
    assert good.status_code == 302 and CrontabSchedule.objects.count() == 1
