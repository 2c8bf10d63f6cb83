"""Sending calls by other means than Task.apply_async: many at once, by name, as signatures.

    enqueue_many((add, (i, i), {}) for i in range(1000))   one round trip for the whole batch
    send_task("reports.build", (7,))                       a task this process does not import
    signature("reports.build", (7,), queue="reports")      the same, described, for a workflow
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from typing import Any

from . import app as app_module
from .asyncresult import AsyncResult
from .config import check_name
from .errors import ConfigurationError
from .message import Message
from .routing import NO_ROUTE
from .task import Task, _check_priority, _countdown, _expiry


def enqueue_many(calls: Iterable[tuple[Task, Iterable[Any], dict[str, Any]] | Message]) -> list[AsyncResult]:
    """Enqueue many calls in one round trip: ``enqueue_many((add, (i, i), {}) for i in range(1000))``.
    Each item is (task, args, kwargs) or a Message from task.message(..., options)."""
    app = app_module.current()
    messages: list[Message] = []
    for call in calls:
        if isinstance(call, Message):
            messages.append(call)
        else:
            t, args, kwargs = call
            messages.append(t.message(args, kwargs))
    if app.config.eager:
        from .worker.execute import run_eagerly

        return [run_eagerly(app, app.registry.get(m.task), m) for m in messages]
    plain = [m for m in messages if "unique" not in m.options]
    if plain:
        app.broker.enqueue(plain)
    ids = {m.id: m.id for m in plain}
    for m in messages:  # unique tasks one by one: each may find its lock held
        if "unique" in m.options:
            ids[m.id] = app.broker.enqueue_unique(m, m.options["unique"], m.options["unique_ms"])
    return [AsyncResult(ids[m.id], m.task) for m in messages]


def send_task(name: str, args: Iterable[Any] | None = None, kwargs: dict[str, Any] | None = None, *,
              queue: str | None = None, priority: int | None = None, expires: float | None = None,
              countdown: float | None = None, task_id: str | None = None) -> AsyncResult:
    """Send a task by name, whether or not this process has it registered (Celery's send_task): a
    web process can send work that only the workers' code defines. Its queue and priority are the
    registered task's if this process knows it, else JOBS["ROUTES"]' or DEFAULT_QUEUE and 0."""
    app = app_module.current()
    check_name("task name", name, ValueError)
    known = app.registry._tasks.get(name)
    if known is not None:
        return known.apply_async(args, kwargs, queue=queue, priority=priority, expires=expires,
                                 countdown=countdown, task_id=task_id)
    if app.config.eager:
        raise ConfigurationError(f"send_task({name!r}): EAGER mode runs tasks this process knows; "
                                 f"{name!r} is not registered here")
    message = send_task_message(app, name, args, kwargs, task_id=task_id, queue=queue, priority=priority,
                                expires=expires, countdown=countdown)
    if app.config.enqueue_on_commit:
        message.encode()
        app_module.after_commit(functools.partial(app.broker.enqueue, [message]))
    else:
        app.broker.enqueue([message])
    return AsyncResult(message.id, name)


def send_task_message(app: Any, name: str, args: Iterable[Any] | None, kwargs: dict[str, Any] | None, *,
                      task_id: str | None = None, queue: str | None = None, priority: int | None = None,
                      expires: float | None = None, countdown: float | None = None) -> Message:
    """The message for a task known only by name (routed by ROUTES, else DEFAULT_QUEUE)."""
    check_name("task name", name, ValueError)
    if priority is not None:
        _check_priority(priority)
    if task_id:
        check_name(f"task_id for {name}", task_id, ValueError)
    args, kwargs = tuple(args or ()), dict(kwargs or {})
    expires_at, expires_in = _expiry(expires, name)
    route = app.router.route(name, args, kwargs, {}) if app.router else NO_ROUTE
    return Message(
        id=task_id or str(uuid.uuid4()), task=name, args=args, kwargs=kwargs,
        queue=check_name("queue", queue, ValueError) if queue else route.queue or app.config.default_queue,
        priority=next(p for p in (priority, route.priority, 0) if p is not None),
        countdown=_countdown(countdown, name), expires=expires_at, expires_in=expires_in,
        content_type=app.config.task_serializer,
    )


def signature(name: str | Task, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
              **options: Any) -> Any:
    """A signature by task name: signature("reports.build", (7,), queue="reports")."""
    from .canvas import Signature

    return Signature(name, args, kwargs, options)
