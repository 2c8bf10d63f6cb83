"""Workers on several hosts, one of them cut off mid-task (issue 25, item 4). The other host is a
network namespace (hosts.make_namespace: a veth pair on a private /30); the Redis under test
listens on the host's end of the link and on loopback. One worker runs inside the namespace, one on
the host. Taking the link down while the inside worker runs a task leaves it running with no way to
renew its lease: the lease runs out, the host worker runs the task again; when the link comes back
the old run's late ack is refused (fenced by its delivery token), the stored result stays the new
run's, and the old worker, never restarted, heartbeats again and takes new work.

It needs root and the `ip` command; where `ip netns add` fails it skips, saying why. CI has both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.test import override_settings

from jobs.inspection import monitor
from tests.conftest import ROOT, Worker
from tests.hosts import NetNamespace, NoNamespaces, make_namespace
from tests.servers import RunningServer, start_redis
from tests.testapp import tasks

#: Short, so that the cut-off worker's lease runs out in seconds (the engine's minimum is 1).
LEASE_SECONDS = 2
NAP = 4  # each run of the task works this long without Redis


@pytest.fixture
def namespace() -> Iterator[NetNamespace]:
    try:
        space = make_namespace()
    except NoNamespaces as exc:
        pytest.skip(f"no second host: {exc}")
    with space:
        yield space


@pytest.fixture
def server(namespace: NetNamespace) -> Iterator[RunningServer]:
    """A Redis on the host's end of the link and on loopback."""
    with start_redis("--bind", namespace.host_address, "127.0.0.1", "--protected-mode", "no") as started:
        yield started


class Elsewhere(Worker):
    """A `runworker` started inside the namespace (`ip netns exec`): the same process tree and
    files, another network."""

    def __init__(self, namespace: NetNamespace, args: list[str], settings: dict[str, Any], env: dict[str, str]):
        full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONUNBUFFERED": "1",
                    "JOBS_TEST_SETTINGS": json.dumps(settings), **env}
        self.args = args
        self.proc = subprocess.Popen(namespace.command(sys.executable, "manage.py", "runworker", *args), cwd=ROOT,
                                     env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()


@pytest.fixture
def elsewhere() -> Iterator[list[Elsewhere]]:
    started: list[Elsewhere] = []
    yield started
    for worker in started:
        worker.cleanup()


@pytest.mark.slow
def test_a_worker_cut_off_mid_task_is_fenced_and_rejoins(namespace, server, elsewhere, start_worker):
    url = f"redis://{namespace.host_address}:{server.port}/0"
    settings = {"LEASE_SECONDS": LEASE_SECONDS}
    env = {"JOBS_BROKER_URL": url, "JOBS_TEST_EVIDENCE_URL": url}
    far = Elsewhere(namespace, ["-c", "1", "-n", "far", "-Q", "default,far"], settings, env)
    elsewhere.append(far)
    far.wait_for(r"ready\.$")
    evidence = redis.Redis.from_url(server.url)
    with override_settings(JOBS={"BROKER_URL": server.url, **settings}):
        result = tasks.announce_nap_say_who.delay(url, "cut", NAP)
        _, pid = evidence.blpop(["started:cut"], 30)
        assert int(pid) in far.children() or int(pid) == far.pid  # it runs on the far host
        namespace.cut()  # at once: the far run naps on, cut off, and ends before the link is back
        cut_at = time.monotonic()
        near = start_worker("-c", "1", "-n", "near", "-Q", "default", settings=settings, env=env)
        _, again = evidence.blpop(["started:cut"], 30)  # the lease ran out: the near worker runs it again
        rerun_after = time.monotonic() - cut_at
        assert int(again) in near.children() or int(again) == near.pid
        assert result.get(timeout=30) == int(again)  # the new run's result, stored while the far one is away

        namespace.restore()
        far.wait_for(r"its ack \(delivery \S+\) was refused", timeout=60)  # its late ack arrived, and was fenced
        assert tasks.announce_nap_say_who.AsyncResult(result.id).get(timeout=5) == int(again)

        # Rejoined without a restart: heartbeats again, and takes new work (its own queue: only it serves it).
        def far_alive() -> bool:
            return any(w.hostname == "far" and w.alive and w.last_seen < LEASE_SECONDS for w in monitor().workers())
        deadline = time.monotonic() + 30
        while not far_alive():
            assert time.monotonic() < deadline, [vars(w) for w in monitor().workers()]
            time.sleep(0.1)
        assert tasks.record.apply_async(("after", 1), queue="far").get(timeout=30) == 1
        _, ran_by = evidence.blpop(["after"], 5)
        assert int(ran_by.split(b":")[1]) in far.children() or int(ran_by.split(b":")[1]) == far.pid
    assert far.proc.poll() is None
    print(f"\nPartition: the task ran again on the near host {rerun_after:.1f} s after the cut (LEASE_SECONDS = "
          f"{LEASE_SECONDS}); the far worker's late ack was refused, its result not stored; it rejoined")
