"""Test fixtures: a private redis-server for the session, and real worker processes started the way a
user starts them (`python manage.py runworker ...`).

Nothing here touches a Redis the tests did not start. Each test begins with an empty database.
Waiting is always on an event: a line in a worker's output, a list push from a task, a result.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from jobs.devserver import RedisServer
from jobs.engine.setup import app as engine_app

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    os.environ["JOBS_BROKER_URL"] = server.url
    engine_app.reset()
    yield server
    server.cleanup()


@pytest.fixture(autouse=True)
def r(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client of the private server, emptied before each test (restarted if a test stopped it)."""
    if redis_server.process is None or redis_server.process.poll() is not None:
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    engine_app.reset()
    yield client
    client.close()


class Worker:
    """A `manage.py runworker` (or another command's) process; its output is collected line by line
    so tests can wait for a line to appear (an event) instead of sleeping."""

    def __init__(self, args: list[str], settings: dict[str, Any] | None = None,
                 env: dict[str, str] | None = None, command: str = "runworker") -> None:
        full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONUNBUFFERED": "1",
                    "JOBS_TEST_SETTINGS": json.dumps(settings or {}), **(env or {})}
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", command, *args], cwd=ROOT, env=full_env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30.0, after: int = 0) -> str:
        """The first line (from index `after`) matching the regex; fails after `timeout`."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[after:]:
                    if regex.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"worker never printed /{pattern}/; output:\n{self.output_unlocked()}")
                self._changed.wait(left)

    def wait_count(self, pattern: str, count: int, timeout: float = 30.0) -> list[str]:
        """Wait until `count` lines match the regex; returns them."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [line for line in self.lines if regex.search(line)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"worker printed /{pattern}/ {len(found)} of {count} times; "
                                         f"output:\n{self.output_unlocked()}")
                self._changed.wait(left)

    def output_unlocked(self) -> str:
        return "\n".join(self.lines)

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def wait(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def kill9(self) -> None:
        """kill -9 of the worker's main process, as an OOM killer or a lost host would."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def children(self) -> list[int]:
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                return [int(p) for p in f.read().split()]
        except FileNotFoundError:
            return []

    def cleanup(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the session we started: the worker and its children
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass


@pytest.fixture
def start_worker() -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def start(*args: str, settings: dict[str, Any] | None = None, ready: bool = True,
              env: dict[str, str] | None = None) -> Worker:
        worker = Worker(list(args), settings, env)
        workers.append(worker)
        if ready:
            worker.wait_for(r"ready\.$")
        return worker

    yield start
    for worker in workers:
        worker.cleanup()


@pytest.fixture
def test_database_env(transactional_db: None) -> dict[str, str]:
    """The environment that points a child process at this test's database (tests/settings.py reads
    it); the test's rows must be committed for the child to see them, hence transactional_db."""
    from django.db import connection

    return {"JOBS_TEST_DB_NAME": str(connection.settings_dict["NAME"])}


@pytest.fixture
def start_beat(test_database_env: dict[str, str]) -> Iterator[Callable[..., Worker]]:
    """`manage.py runbeat` processes on the test's database; started once beat has begun ticking."""
    beats: list[Worker] = []

    def start(*args: str, settings: dict[str, Any] | None = None) -> Worker:
        beat = Worker(list(args), settings, test_database_env, command="runbeat")
        beats.append(beat)
        beat.wait_for(r"beat \S+ started")
        return beat

    yield start
    for beat in beats:
        beat.cleanup()


def wait_dead(pids: list[int], timeout: float = 10.0) -> None:
    """Wait for processes to end (each a pidfd that becomes readable as it exits)."""
    import select

    deadline = time.monotonic() + timeout
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                raise AssertionError(f"process {pid} did not end within {timeout} s")
        finally:
            os.close(fd)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
