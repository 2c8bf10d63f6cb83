"""jobs as a Redis user with the least rights: the `ACL SETUSER` line of docs/operations.md (the same
as redis_setup.acl_setuser() makes) creates a user on a Redis of this test's own, and the core of jobs
(tests/acceptance/core_scenarios.py: worker, beat, results, retries, workflows, revoke, countdown,
dead letters, the CLI, the console, health and metrics) runs as that user. Redis's ACL LOG then
shows every command it refused, even those a caller swallowed (a pcall in a script): none may be
jobs'. The commands jobs sends are also found in its sources, so that one added on a path the
scenarios do not reach is caught too."""

from __future__ import annotations

import ast
import io
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.core.management import call_command
from django.test import override_settings
from redis.exceptions import NoPermissionError

from jobs.engine.redis.connection import SERVER_STATE_CODES
from jobs.engine.redis.server import ACL_COMMANDS, acl_setuser
from jobs.engine.setup import app as engine_app
from tests.acceptance import core_scenarios
from tests.servers import RunningServer, start_redis
from tests.testapp import tasks

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "operations.md"
PASSWORD = "a-long-random-password-for-tests"
#: Sent by jobs, refused by this user, and done without (redis_setup.py says why).
DONE_WITHOUT = {"config|get", "scan"}


def docs_line() -> str:
    lines = [line.strip() for line in DOCS.read_text().splitlines() if line.strip().startswith("ACL SETUSER ")]
    assert len(lines) == 1, f"docs/operations.md should give one ACL SETUSER line, not {len(lines)}"
    return lines[0]


@pytest.fixture
def acl_server() -> Iterator[tuple[RunningServer, str]]:
    """A Redis with the docs' user, and the URL that connects as it."""
    with start_redis() as server:
        admin = redis.Redis.from_url(server.url)
        words = shlex.split(docs_line().replace(">PASSWORD", f">{PASSWORD}"))
        assert admin.execute_command(*words) in (b"OK", "OK", True)
        admin.acl_log_reset()
        yield server, f"redis://jobs:{PASSWORD}@127.0.0.1:{server.port}/0"


def refusals(server: RunningServer) -> set[str]:
    """The commands Redis refused the jobs user (ACL LOG), but CLIENT SETINFO: redis-py sends it as it
    connects (Redis 7.2 on) and swallows a refusal, and a line valid on every Redis cannot allow it."""
    log = redis.Redis.from_url(server.url, decode_responses=True).acl_log()
    return {e["object"] for e in log if e.get("username") == "jobs" and e.get("object") != "client|setinfo"}


def test_the_docs_line_is_the_one_the_code_makes():
    assert docs_line() == acl_setuser("jobs", "jobs", "PASSWORD")
    out = io.StringIO()
    call_command("jobs", "redis-acl", stdout=out, stderr=io.StringIO())
    printed = out.getvalue().strip()
    assert re.sub(r" >\S+ ", " >PASSWORD ", printed) == docs_line() and ">PASSWORD" not in printed
    other = acl_setuser("site2", "site2", "x")
    assert " ~{site2}:* " in other and " &{site2}:done:* " in other and "{jobs}" not in other


def test_the_core_of_jobs_runs_as_that_user(acl_server, start_worker, start_beat, test_database_env):
    server, url = acl_server
    worker, beat = core_scenarios.run(url, server.url, start_worker, start_beat, test_database_env)
    assert refusals(server) <= DONE_WITHOUT
    for process in (worker, beat):
        assert "NOPERM" not in process.output and "Redis call failed" not in process.output, process.output

    # CONFIG (the persistence check) was refused: a warning that says what it could not tell, no error.
    with override_settings(JOBS={"BROKER_URL": url}):
        out = io.StringIO()
        call_command("check", stdout=out, stderr=out)
        assert "jobs.W004" in out.getvalue() and "refused CONFIG GET save" in out.getvalue()
        assert "could not check the Redis setup" not in worker.output + beat.output

    # The user is confined: no command but jobs', no key or channel but its prefix's.
    confined = redis.Redis.from_url(url)
    for command in (("FLUSHALL",), ("CONFIG", "GET", "save"), ("KEYS", "*"), ("CLIENT", "LIST"), ("MODULE", "LIST"),
                    ("SHUTDOWN", "NOSAVE"), ("SCAN", "0"), ("GET", "other-app:secret"), ("PUBLISH", "news", "x"),
                    ("SET", "{jobs2}:queue:default", "x"), ("EVAL", "return 1", "0"), ("ACL", "LIST")):
        with pytest.raises(NoPermissionError):
            confined.execute_command(*command)
    assert confined.set("{jobs}:probe", "x")


def test_a_user_without_info_degrades_to_a_warning(acl_server):
    server, url = acl_server
    admin = redis.Redis.from_url(server.url)
    admin.execute_command("ACL", "SETUSER", "jobs", "-info")
    with override_settings(JOBS={"BROKER_URL": url}):
        out = io.StringIO()
        call_command("check", stdout=out, stderr=out)  # no SystemCheckError, no traceback
        assert "jobs.W005" in out.getvalue() and "refused INFO" in out.getvalue() and "+info" in out.getvalue()
        out = io.StringIO()
        call_command("jobs", "status", stdout=out, stderr=out)
        assert "refused INFO" in out.getvalue()


def test_a_worker_starts_as_that_user_on_a_redis_without_the_queues_set(acl_server, start_worker):
    """A worker's start fills the queues SET by a SCAN where it is missing: refused, it does without."""
    server, url = acl_server
    start_worker("-P", "solo", "-Q", "default,late", env={"JOBS_BROKER_URL": url, "JOBS_TEST_EVIDENCE_URL": server.url})
    with override_settings(JOBS={"BROKER_URL": url}):
        assert tasks.add.delay(1, 2).get(timeout=20) == 3
        assert set(engine_app.current().broker.link.call("SMEMBERS", "{jobs}:queues")) >= {b"default", b"late"}
    assert "scan" in refusals(server) <= DONE_WITHOUT


# -- the commands in the sources ------------------------------------------------------------------

LUA_CALL = re.compile(r"(?:redis\.p?call\s*\(|pcall\s*\(\s*redis\.p?call\s*,|call_chunked\s*\()\s*'(\w+)'"
                      r"(?:\s*,\s*(?:'(\w+)'|[^,)]+))?")


def lua_commands() -> set[str]:
    """`command` or `command|subcommand` for each redis.call (pcall, call_chunked) of the scripts."""
    found = set()
    scripts = sorted((ROOT / "jobs" / "engine" / "redis" / "lua").rglob("*.lua"))
    assert len(scripts) > 20, "where have the scripts gone?"
    for path in scripts:
        text = path.read_text()
        for match in LUA_CALL.finditer(text):
            command, second = match.group(1).lower(), (match.group(2) or "").lower()
            found.add(f"{command}|{second}" if f"{command}|{second}" in ACL_COMMANDS else command)
        calls = len(re.findall(r"redis\.p?call\b", text))
        literal = len(re.findall(r"(?:redis\.p?call\s*\(|pcall\s*\(\s*redis\.p?call\s*,)\s*'", text))
        if path.name != "chunks.lua":  # whose command is call_chunked's first argument, counted above
            assert calls == literal, f"{path}: a redis.call whose command is not a literal"
    return found


def python_commands(server_commands: set[str]) -> set[str]:
    """The upper-case string constants of the modules that speak to Redis that are Redis commands."""
    found = set()
    engine = ROOT / "jobs" / "engine"
    speakers = sorted((engine / "redis").glob("*.py"))  # the only ones (test_structure.py)
    for path in speakers:
        tree = ast.parse(path.read_text())
        found |= {node.value.lower() for node in ast.walk(tree) if isinstance(node, ast.Constant)
                  and isinstance(node.value, str) and node.value.isupper() and node.value.lower() in server_commands}
    # Error codes Redis answers with (READONLY, ...) are not commands jobs sends.
    # ... nor is ACL: server.py spells the ACL SETUSER line it builds for an operator to run.
    return found - {code.lower() for code in SERVER_STATE_CODES} - {"acl"}


def test_every_command_in_the_sources_is_in_the_line_and_nothing_else(r):
    server_commands = {c.decode().lower() for c in r.command_list()}
    allowed = {c.split("|")[0] for c in ACL_COMMANDS}
    lua, python = lua_commands(), python_commands(server_commands)
    assert lua <= ACL_COMMANDS | allowed, lua - ACL_COMMANDS
    assert {c.split("|")[0] for c in lua} <= allowed
    assert python - {c.split("|")[0] for c in DONE_WITHOUT} <= allowed, python - allowed
    # and nothing jobs does not send (SELECT: a BROKER_URL with a database number, sent by redis-py)
    used = {c.split("|")[0] for c in lua} | python | {"select"}
    assert allowed <= used, allowed - used
    subcommands = {c for c in ACL_COMMANDS if "|" in c}
    assert subcommands == {c for c in lua if "|" in c} | {"script|load", "xgroup|create", "cluster|slots"}


def test_a_redis_that_renamed_config_away_is_not_warned_about():
    """A managed Redis (CONFIG renamed away): its persistence is the service's, not reported (workers.md);
    only a user refused CONFIG by ACL on an operator's Redis is (W004)."""
    with start_redis("--rename-command", "CONFIG", "") as server:
        with override_settings(JOBS={"BROKER_URL": server.url}):
            out = io.StringIO()
            call_command("check", stdout=out, stderr=out)
            said = out.getvalue()
            # none of the Redis checks' findings (redis/server.py: W002-W005); W006 is about the metrics view
            assert not any(f"jobs.W00{n}" in said for n in (2, 3, 4, 5)), said
