"""OpenTelemetry across the queue (jobs/engine/tracing.py): one trace from a web request, through a
real worker process, to the next step of a chain and the task that step sends.

The test process is the web side, with the SDK's in-memory exporter; the worker exports its spans
with the SDK's console exporter into a file (tests/settings.py, JOBS_TEST_SPANS_FILE), read once it
has stopped (its spans are exported as they end, synchronously)."""

from __future__ import annotations

import json

import pytest

from tests.testapp import tasks

sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="the test extra installs opentelemetry-sdk")

from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind  # noqa: E402
from opentelemetry.util._once import Once  # noqa: E402

ADD, CALLS, RECORD, FAIL = (f"tests.testapp.tasks.{name}" for name in ("add", "calls_another", "record", "fail"))


@pytest.fixture
def web_spans():
    """A tracer provider for this process, taken away afterwards as OpenTelemetry's own test
    utilities do (the global is set-once), so that no other test sends traced messages."""
    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    yield provider, exporter
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


def _hex(n: int, width: int) -> str:
    return f"0x{n:0{width}x}"


def test_one_trace_links_the_web_request_the_worker_and_the_chained_task(start_worker, r, tmp_path, web_spans):
    provider, exporter = web_spans
    spans_file = tmp_path / "worker-spans.jsonl"
    worker = start_worker("-c", "1", env={"JOBS_TEST_SPANS_FILE": str(spans_file)})
    with provider.get_tracer("web").start_as_current_span("POST /orders", kind=SpanKind.SERVER) as web:
        chained = (tasks.add.s(1, 2) | tasks.calls_another.si("traced")).delay()
        failing = tasks.fail.delay("declined")
    assert r.blpop(["traced"], timeout=15)
    recorded = chained.get(timeout=10)
    with pytest.raises(tasks.PaymentDeclined):
        failing.get(timeout=10)
    worker.signal(15)
    assert worker.wait(20) == 0

    trace_id = _hex(web.get_span_context().trace_id, 32)
    sent = {s.name: s for s in exporter.get_finished_spans()}
    first_send = sent[f"apply_async/{ADD}"]
    assert first_send.kind == SpanKind.PRODUCER and first_send.parent.span_id == web.get_span_context().span_id
    assert first_send.attributes["celery.task_name"] == ADD
    assert first_send.attributes["messaging.destination.name"] == "default"

    ran = [json.loads(line) for line in spans_file.read_text().splitlines()]
    by_name = {s["name"]: s for s in ran}
    assert {s["context"]["trace_id"] for s in ran} == {trace_id}  # one trace, web to the last task

    def child_of(name: str, parent_id: str) -> dict:
        span = by_name[name]
        assert span["parent_id"] == parent_id, f"{name} is not a child of {parent_id}"
        return span

    run_add = child_of(f"run/{ADD}", _hex(first_send.context.span_id, 16))
    assert run_add["kind"] == "SpanKind.CONSUMER"
    assert run_add["attributes"] | {"celery.action": "run", "celery.task_name": ADD, "celery.state": "SUCCESS",
                                    "messaging.destination.name": "default"} == run_add["attributes"]
    # The chain's next step is sent by the ack of the first, as its child; it sends a task in turn.
    next_send = child_of(f"apply_async/{CALLS}", run_add["context"]["span_id"])
    run_calls = child_of(f"run/{CALLS}", next_send["context"]["span_id"])
    assert run_calls["attributes"]["messaging.message.id"] == chained.id
    record_send = child_of(f"apply_async/{RECORD}", run_calls["context"]["span_id"])
    run_record = child_of(f"run/{RECORD}", record_send["context"]["span_id"])
    assert run_record["attributes"]["messaging.message.id"] == recorded

    run_fail = child_of(f"run/{FAIL}", _hex(sent[f"apply_async/{FAIL}"].context.span_id, 16))
    assert run_fail["status"]["status_code"] == "ERROR" and run_fail["attributes"]["celery.state"] == "FAILURE"
    [event] = run_fail["events"]
    assert event["name"] == "exception" and event["attributes"]["exception.message"] == "declined"
    assert event["attributes"]["exception.type"] == "tests.testapp.tasks.PaymentDeclined"


def test_nothing_is_added_to_a_message_without_a_tracer_provider(r):
    message = tasks.add.message((1, 2))
    from jobs.engine import tracing

    [same] = tracing.produced([message])
    assert same is message and not (same.options.headers or {})
