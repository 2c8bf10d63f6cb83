"""Concurrency limits across the cluster: at most N runs at once of a task (or of a key) over every
worker, measured with a Redis counter each run bumps while it runs (tests/testapp/tasks.py _counted);
a killed worker's slot is freed with its lease; other tasks in the queue flow meanwhile."""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client, override_settings
from django.urls import reverse

from jobs import task
from jobs.engine.errors import ConfigurationError
from jobs.engine.setup import app as engine_app
from tests.acceptance.test_metrics import TOKEN, scrape, value
from tests.testapp import tasks


def ends(r, key: str, n: int) -> None:
    """Wait for n runs on `key` to end (each pushes one line)."""
    for i in range(n):
        assert r.blpop([f"{key}:done"], timeout=60) is not None, f"only {i} of {n} runs of {key} ended"


def seen(r, key: str) -> list[int]:
    return [int(n) for n in r.lrange(f"{key}:seen", 0, -1)]


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_fifty_tasks_over_three_workers_never_run_more_than_three_at_once(start_worker, r, pool):
    workers = [start_worker("-P", pool, "-c", "3") for _ in range(3)]
    for _ in range(50):
        tasks.at_most_three.delay("three", 30)
    ends(r, "three", 50)
    counts = seen(r, "three")
    assert len(counts) == 50 and max(counts) == 3  # the limit was reached, never passed
    assert r.get("three") == b"0"
    if pool == "prefork":  # the three workers shared the slots
        pids = {int(p) for p in r.lrange("three:pids", 0, -1)}
        assert sum(bool(pids & set(w.children())) for w in workers) >= 2


def test_each_key_has_its_own_slots(start_worker, r):
    start_worker("-c", "4")
    start_worker("-c", "4")
    for _ in range(12):
        tasks.two_per_customer.delay("acme", 40)
        tasks.two_per_customer.delay("globex", 40)
    ends(r, "acme", 12)
    ends(r, "globex", 12)
    assert max(seen(r, "acme")) == 2 and max(seen(r, "globex")) == 2
    assert max(seen(r, "all")) > 2  # the customers did not wait for each other


def test_a_killed_worker_frees_its_slot_within_a_lease_and_other_tasks_flow(start_worker, r):
    fast = {"LEASE_SECONDS": 2}
    killed = start_worker("-c", "1", settings=fast)
    tasks.alone.delay("slot")
    assert r.blpop(["started:slot"], timeout=10) is not None  # the killed one holds the slot
    start_worker("-c", "2", settings=fast)
    waiting = tasks.alone.delay("slot")
    for i in range(5):  # the same queue keeps flowing while the second run of "slot" waits
        assert tasks.add.delay(i, 1).get(timeout=5) == i + 1
    assert r.llen("started:slot") == 0 and waiting.state == "PENDING"
    children = killed.children()
    killed.kill9()
    killed_at = time.monotonic()
    assert r.blpop(["started:slot"], timeout=10) is not None
    # The lease, maintain's next pass (about 1 s), and a waiter's next offer (at most 1 s after it was
    # put back; the killed run, handed back by maintain, may come first).
    assert time.monotonic() - killed_at < 2 + 2
    assert not set(children) & {int(p) for p in r.lrange("started:slot", 0, -1)}
    r.rpush("release:slot", 1, 1)
    assert waiting.get(timeout=10) == "slot"


def test_a_key_that_is_not_a_str_or_an_int_fails_the_call_that_sends_it():
    with pytest.raises(TypeError, match="two_per_customer: concurrency_key returned"):
        tasks.two_per_customer.delay(["acme"], 1)
    with pytest.raises(TypeError) as raised:
        tasks.two_per_customer.delay("acme")  # the key function takes two arguments
    assert "in concurrency_key of task tests.testapp.tasks.two_per_customer" in "".join(raised.value.__notes__)


@pytest.mark.parametrize("options, message", [
    ({"concurrency": 0}, "concurrency .* must be an int from 1 to 10000"),
    ({"concurrency": 3.0}, "concurrency .* must be an int"),
    ({"concurrency": 3, "concurrency_key": "customer"}, "concurrency_key must be a callable"),
    ({"concurrency_key": lambda x: x}, "concurrency_key needs concurrency"),
])
def test_a_bad_concurrency_option_is_an_error_at_import(options, message):
    with pytest.raises(ConfigurationError, match=message):
        task(name="tests.bad_concurrency", **options)(lambda x: None)


def test_eager_mode_ignores_the_limit(r):
    with override_settings(JOBS={"EAGER": True}):
        assert tasks.at_most_three.delay("eager", 1).get() is None
    assert seen(r, "eager") == [1] and not r.exists(engine_app.current().broker.keys.slots)


@pytest.mark.django_db
@override_settings(JOBS={"METRICS_TOKEN": TOKEN})
def test_slots_in_use_show_in_the_metrics_and_on_the_console_queues_page(start_worker, r):
    start_worker("-c", "2")
    tasks.alone.delay("shown")
    assert r.blpop(["started:shown"], timeout=10) is not None
    samples = scrape(Client())
    slot = "tests.testapp.tasks.alone:shown"
    assert value(samples["jobs_concurrency_in_use"], "jobs_concurrency_in_use", slot=slot) == 1
    assert value(samples["jobs_concurrency_limit"], "jobs_concurrency_limit", slot=slot) == 1
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_console"))
    client = Client()
    client.force_login(viewer)
    page = client.get(reverse("admin:jobs_console_queues")).content.decode()
    assert re.search(rf"<td>{re.escape(slot)}</td><td class=\"num\">1</td><td class=\"num\">1</td>", page)
    r.rpush("release:shown", 1)
    assert r.blpop(["finished:shown"], timeout=10) is not None
