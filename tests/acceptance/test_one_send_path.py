"""One send path (engine/send/producer.py): every door a message leaves a process by goes through
producer.send, so each gets its trace context, eager mode, the commit hook and a unique task's lock
from one place. Shown two ways: each door, traced, makes exactly one PRODUCER span per message it
sends (tracing.produced is called in send() alone); and no module of jobs but the producer calls the
broker's sending parts (a door that went around it would call them itself)."""

from __future__ import annotations

import ast
import datetime as dt
import uuid
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from jobs import chain, chord, control, group
from jobs.engine.beat.scheduler import Beat
from jobs.engine.send.producer import enqueue_many, send_task
from jobs.engine.setup import app as engine_app
from jobs.models import IntervalSchedule, PeriodicTask, TaskResult
from jobs.stores.schedules_db import ScheduleDatabase
from tests.testapp import tasks

sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="the test extra installs opentelemetry-sdk")

from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind  # noqa: E402
from opentelemetry.util._once import Once  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ADD = "tests.testapp.tasks.add"


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    yield exporter
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


def _beat_run() -> None:
    t0 = dt.datetime(2026, 11, 21, 12, tzinfo=dt.timezone.utc)
    row = PeriodicTask.objects.create(name=f"door {uuid.uuid4()}", task=ADD, args=[1, 2],
                                      schedule=IntervalSchedule.objects.create(every=1, period="seconds"))
    PeriodicTask.objects.filter(pk=row.pk).update(date_created=t0)
    Beat(engine_app.current(), ScheduleDatabase()).tick(t0 + dt.timedelta(seconds=1))


def _run_again() -> None:  # the console's and the admin's "run again", the CLI's `jobs retry`
    row = TaskResult.objects.create(task_id=str(uuid.uuid4()), name=ADD, status="SUCCESS", args="[1, 2]",
                                    kwargs="{}", args_complete=True, queue="default")
    control.retry(row.task_id)


def _admin_run_now() -> None:  # the periodic task admin's "Run now" action
    row = PeriodicTask.objects.create(name=f"now {uuid.uuid4()}", task=ADD, args=[1, 2],
                                      schedule=IntervalSchedule.objects.create(every=1, period="hours"))
    client = Client()
    client.force_login(User.objects.create_superuser(f"root-{uuid.uuid4().hex[:8]}", password="pw"))
    response = client.post(reverse("admin:jobs_periodictask_changelist"),
                           {"action": "run_now", "_selected_action": [row.pk]})
    assert response.status_code == 302


def _django_tasks() -> None:
    from tests.djangotasks.tasks import noop_task
    noop_task.enqueue(1)


#: door -> (what it does, the messages it sends now)
DOORS = {
    "delay": (lambda: tasks.add.delay(1, 2), 1),
    "apply_async with a countdown": (lambda: tasks.add.apply_async((1, 2), countdown=60), 1),
    "a unique task": (lambda: tasks.add.apply_async((1, 2), unique_key="k", unique_for=60), 1),
    "a signature": (lambda: tasks.add.s(1, 2).apply_async(), 1),
    "send_task": (lambda: send_task(ADD, (1, 2)), 1),
    "enqueue_many": (lambda: enqueue_many([(tasks.add, (1, 2), {}), tasks.add.s(3, 4)]), 2),
    "a chain (its first step now)": (lambda: (tasks.add.s(1, 2) | tasks.add.s(3)).delay(), 1),
    "a group": (lambda: group(tasks.add.s(1, 2), tasks.add.s(3, 4)).delay(), 2),
    "a chord (its header now)": (lambda: chord([tasks.add.s(1, 2), tasks.add.s(3, 4)], tasks.add.s(5)).delay(), 2),
    "chain()": (lambda: chain(tasks.add.s(1, 2), tasks.add.s(3)).apply_async(), 1),
    "django.tasks enqueue": (_django_tasks, 1),
    "beat": (_beat_run, 1),
    "run again": (_run_again, 1),
    "the admin's run now": (_admin_run_now, 1),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("door", sorted(DOORS))
def test_each_door_sends_through_the_producer_one_span_a_message(r, spans, door):
    does, messages = DOORS[door]
    does()
    produced = [s for s in spans.get_finished_spans() if s.kind == SpanKind.PRODUCER]
    assert len(produced) == messages, (door, [s.name for s in produced])
    assert all(s.name.startswith("apply_async/") for s in produced)


SENDING = {("sends", "enqueue"), ("sends", "enqueue_unique"), ("beat", "send")}


def test_only_the_producer_calls_the_brokers_sending_parts():
    """A message leaves a process by broker.sends.* or broker.beat.send; only producer.py calls them."""
    callers = []
    for path in sorted((ROOT / "jobs").rglob("*.py")):
        if "redis" in path.relative_to(ROOT / "jobs").parts[:2]:
            continue  # the broker's own parts (sends.py, beat_runs.py) are what is called
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                    and (node.value.attr, node.attr) in SENDING):
                callers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert callers and all(c.startswith("jobs/engine/send/producer.py:") for c in callers), callers
