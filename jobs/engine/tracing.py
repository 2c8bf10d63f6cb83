"""OpenTelemetry traces across the queue: one trace from the web request that sends a task, through
the worker that runs it, to the tasks it sends and the next step of its chain.

Only ``opentelemetry-api`` is used (the `otel` extra), and only when the application has set a
tracer provider (its SDK, exporters and sampling are the application's to choose): without one, or
without the package, sending and running cost one check each and carry nothing.

    produced(message)   a PRODUCER span "apply_async/<task>" (child of what is current here: the web
                        request's span, or the task that sends), its context written into the
                        message's headers as W3C trace context ("traceparent", "tracestate")
    consuming(message)  a CONSUMER span "run/<task>", child of the producer span the headers name,
                        current while the task runs and while its outcome is settled, so what the
                        task sends and the chain step that follows it are its children
    ended(span, outcome)  the outcome on the span: its state, a retry's or a revocation's reason,
                        a failure's exception recorded and the span's status ERROR

The attribute names are those of opentelemetry-instrumentation-celery (celery.action,
celery.task_name, celery.state, celery.retry.reason, celery.revoked.reason), plus the messaging
conventions' message id and destination (the queue): dashboards made for Celery's traces read ours.
A retry keeps the headers of the run it repeats, so every attempt is a child of the same send.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .wire.message import Message

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace import ProxyTracerProvider, SpanKind, Status, StatusCode
except ImportError:  # the `otel` extra is not installed: nothing to do, ever
    trace = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from .wire.outcome import Outcome

#: The header names W3C trace context uses (what propagate.inject writes with the default propagator).
TRACE_HEADERS = ("traceparent", "tracestate", "baggage")


_cached: tuple[Any, Any] = (None, None)  # (provider, its tracer): one tracer per provider, not per send


def _tracer() -> Any:
    """The tracer, or None while no tracer provider is set (the API's default does nothing)."""
    global _cached
    if trace is None:
        return None
    provider = trace.get_tracer_provider()
    if provider is _cached[0]:
        return _cached[1]
    tracer = None
    if not isinstance(provider, (ProxyTracerProvider, trace.NoOpTracerProvider)):
        tracer = provider.get_tracer("jobs")
    _cached = (provider, tracer)
    return tracer


def _attributes(message: Message, action: str) -> dict[str, Any]:
    return {"celery.action": action, "celery.task_name": message.task, "messaging.message.id": message.id,
            "messaging.destination.name": message.queue, "messaging.system": "jobs"}


def produced(messages: list[Message]) -> list[Message]:
    """Each message with its send's trace context in its headers (a PRODUCER span each, ended at
    once: it marks the send; the enqueue's own time belongs to the caller's span)."""
    tracer = _tracer()
    if tracer is None:
        return messages
    from opentelemetry import propagate  # only once tracing: its propagators cost every worker's start ~2-6 ms

    out = []
    for message in messages:
        with tracer.start_as_current_span(f"apply_async/{message.task}", kind=SpanKind.PRODUCER,
                                          attributes=_attributes(message, "apply_async")):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
        headers = {k: v for k, v in (message.options.headers or {}).items() if k not in TRACE_HEADERS}
        out.append(message.replace(options=message.options.replace(headers={**headers, **carrier})))
    return out


@contextlib.contextmanager
def consuming(message: Message) -> Iterator[Span | None]:
    """The CONSUMER span of one run, current inside the block; None when not tracing."""
    tracer = _tracer()
    if tracer is None:
        yield None
        return
    from opentelemetry import propagate  # only once tracing, as in produced()

    parent = propagate.extract(message.options.headers or {})
    attributes = _attributes(message, "run")
    if message.retries:
        attributes["celery.retries"] = message.retries
    span = tracer.start_span(f"run/{message.task}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes)
    token = otel_context.attach(trace.set_span_in_context(span, parent))
    try:
        yield span
    except BaseException as exc:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        otel_context.detach(token)
        span.end()


def ended(span: Span | None, outcome: Outcome) -> None:
    """Put a run's outcome on its span (consuming())."""
    if span is None or not span.is_recording():
        return
    span.set_attribute("celery.state", outcome.status)
    if outcome.status == "RETRY" and outcome.exception is not None:
        span.set_attribute("celery.retry.reason", str(outcome.exception))
    elif outcome.status == "REVOKED":
        span.set_attribute("celery.revoked.reason", outcome.reason or "revoked")
    elif outcome.status == "FAILURE" and outcome.exception is not None:
        span.record_exception(outcome.exception)
        span.set_status(Status(StatusCode.ERROR, f"{type(outcome.exception).__name__}: {outcome.exception}"))
