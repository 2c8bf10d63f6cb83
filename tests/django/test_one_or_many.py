"""One or many at the Django edge (issue 23): jobs.control, the django.tasks backend and the CLI
take one id as one id, a list as a list, and refuse anything else with a TypeError that says what
they take, changing nothing. `control.revoke("<id>")` revoked 36 one-character ids, and the task ran."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from django.test import override_settings

from jobs import control
from jobs.engine.setup import app as engine_app
from tests import settings as test_settings
from tests.conftest import ROOT
from tests.testapp import tasks

pytestmark = pytest.mark.django_db
BAD = [b"3f1c", 5, None, {"a": 1}, {1, 2}, [b"3f1c"], ""]


def revoked(r) -> list[bytes]:
    return r.zrange(engine_app.current().keys.revoked, 0, -1)


def test_revoke_takes_one_id_as_one_id(r):
    task_id = "0b2f9a8e-4c1d-4e6f-9a7b-3c5d1e2f4a6b"
    assert control.revoke(task_id) == 1
    assert revoked(r) == [task_id.encode()]
    assert control.revoke(["a", "b"]) == 2 and control.revoke(("c",)) == 1 and control.revoke(iter(["d"])) == 1
    assert control.revoke([]) == 0


@pytest.mark.parametrize("call", ["revoke", "run_scheduled", "delete_scheduled", "requeue_dead", "discard_dead"])
def test_each_call_that_takes_ids_refuses_what_it_would_take_apart(r, call):
    for bad in BAD:
        with pytest.raises(TypeError, match=rf"^control.{call}: (task_)?ids (takes one id|takes ids as str|holds an)"):
            getattr(control, call)(bad)
    assert revoked(r) == []


def test_scheduled_and_dead_letters_by_one_id(r):
    one, two = (tasks.add.apply_async((i, i), countdown=600) for i in (1, 2))
    assert control.run_scheduled(one.id) == 1 and control.delete_scheduled(two.id) == 1
    broker = engine_app.current().broker
    assert broker.scheduled.count() == 0 and broker.controls.queue_length("default") == 1
    control.purge("default")
    for task_id in ("dead-1", "dead-2"):
        broker.sends.enqueue([tasks.add.message((1, 2), task_id=task_id)])
        [delivery] = broker.deliveries.fetch(broker.deliveries.plan(["default"], f"{task_id}."), 1, 0).deliveries
        broker.runs.bury(delivery.token, "test")
    assert {d.id for d in control.monitor().dead_letters(10)} == {"dead-1", "dead-2"}
    assert control.requeue_dead("dead-1") == 1 and control.discard_dead("dead-2") == 1


@pytest.mark.parametrize("call, what", [("purge", "queue"), ("pause", "queue"), ("resume", "queue"),
                                        ("shutdown", "worker_id"), ("retry", "task_id")])
def test_calls_that_take_one_name_refuse_a_list(r, call, what):
    with pytest.raises(TypeError, match=rf"^control.{call}: {what} must be one str \(not empty\), not list "
                                        r"\['a', 'b'\] \(for several, call it once for each\)"):
        getattr(control, call)(["a", "b"])
    assert control.paused() == {}


def test_the_cli_revokes_the_ids_it_is_given(r):
    """`manage.py jobs revoke` hands control.revoke the list argparse made: one id stays one id."""
    done = subprocess.run([sys.executable, "manage.py", "jobs", "revoke", "0b2f9a8e-4c1d-4e6f-9a7b-3c5d1e2f4a6b"],
                          cwd=ROOT, text=True, capture_output=True, timeout=60,
                          env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"})
    assert done.returncode == 0, done.stderr
    assert revoked(r) == [b"0b2f9a8e-4c1d-4e6f-9a7b-3c5d1e2f4a6b"]


# -- the django.tasks backend ----------------------------------------------------------------------

needs_tasks = pytest.mark.skipif(not test_settings.TASKS_API, reason="no django.tasks (5.2 without the backport)")


@needs_tasks
def test_the_backend_refuses_queues_given_as_one_string():
    from jobs.backend import JobsBackend

    try:
        from django.tasks.exceptions import InvalidTaskBackend
    except ImportError:  # the backport
        from django_tasks.exceptions import InvalidTaskBackendError as InvalidTaskBackend
    with pytest.raises(InvalidTaskBackend, match=r"TASKS\['default'\]\['QUEUES'\] is 'emails': give a list"):
        JobsBackend("default", {"QUEUES": "emails"})
    assert JobsBackend("default", {"QUEUES": ("emails",)}).queues == {"emails"}


@needs_tasks
def test_the_backend_takes_arguments_as_a_list_and_one_result_id(r):
    from tests.djangotasks import tasks as t

    try:
        from django.tasks import default_task_backend
        from django.tasks.exceptions import InvalidTask
    except ImportError:  # the backport
        from django_tasks import default_task_backend
        from django_tasks.exceptions import InvalidTaskError as InvalidTask
    with pytest.raises(TypeError, match=r"tests.djangotasks.tasks.noop_task: args takes a list or tuple"):
        default_task_backend.enqueue(t.noop_task, "ab", {})
    with pytest.raises(TypeError, match=r"tests.djangotasks.tasks.noop_task: kwargs takes a dict"):
        default_task_backend.enqueue(t.noop_task, (), [("a", 1)])
    with pytest.raises(TypeError, match=r"TASKS\['default'\].get_result: result_id must be one str"):
        default_task_backend.get_result(["a"])
    with pytest.raises(InvalidTask, match=r"run_after is datetime.timedelta\(seconds=300\): give a datetime"):
        t.noop_task.using(run_after=dt.timedelta(minutes=5))
    with override_settings(USE_TZ=False), pytest.raises(InvalidTask, match="give a datetime"):
        t.noop_task.using(run_after=dt.timedelta(minutes=5))
    assert engine_app.current().broker.controls.queue_length("default") == 0
    assert default_task_backend.enqueue(t.noop_task, [1], {"a": 2}).args == [1]
