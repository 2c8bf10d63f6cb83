"""Bad input at each door gets a clear error, naming the task and what is wrong, and changes nothing:

- the wire: a message written into a queue (or the scheduled set) by hand, broken in every way we
  could think of: a real worker moves each to the dead letters with the reason, never loops on it,
  and runs an ordinary task sent after them; the console and the CLI show them.
"""

from __future__ import annotations

import os
import subprocess
import sys

from django.contrib.auth.models import User
from django.test import Client

from jobs import control
from jobs.engine import app as engine_app
from jobs.engine.asyncresult import AsyncResult
from tests.acceptance.test_history import wait_rows
from tests.conftest import ROOT
from tests.testapp import tasks

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
    "nested 5,000 deep": (wire("deep", "[" * 5000 + "]" * 5000), "broken envelope: maximum recursion depth"),
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
    for message, _ in BROKEN.values():
        r.zadd(broker.keys.queue("default"), {message: 0})  # priority 9: before what is sent below
    for entry in BROKEN_SCHEDULED:
        r.zadd(broker.keys.scheduled, {entry: 0})
    r.zadd(broker.keys.scheduled, {b" 9|default|" + wire("spaced-score", "[1, 2]"): 0})  # odd, and readable
    worker = start_worker("-c", "1", env=test_database_env)
    worker.wait_count("moved to the dead letters", len(BROKEN))
    # Sent after them: run. The one due later is promoted after the broken entries due before it.
    first, later = tasks.add.delay(2, 3), tasks.add.apply_async((4, 4), countdown=0.01)
    assert first.get(timeout=30) == 5 and later.get(timeout=30) == 8
    assert AsyncResult("spaced-score").get(timeout=30) == 3

    letters = {d.message: d for d in control.monitor().dead_letters(100)}
    assert len(letters) == len(BROKEN) + len(BROKEN_SCHEDULED), sorted(letters)
    for name, (message, reason) in BROKEN.items():
        letter = letters[message.decode("utf-8", "replace")]
        assert reason in letter.reason, (name, letter.reason)
    for entry in BROKEN_SCHEDULED:
        assert "unreadable entry" in letters[entry.decode()].reason
    assert "Redis call failed" not in worker.output and broker.queue_length("default") == 0
    assert broker.scheduled_count() == 0 and broker.inflight_count() == 0

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
