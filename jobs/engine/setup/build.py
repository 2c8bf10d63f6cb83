"""From a call to its message: the one place where a call's options, JOBS["ROUTES"], @task(...) and
the settings are resolved into what a message says, for every sender (apply_async, signatures and
workflows, send_task, enqueue_many, beat, and the worker sending a workflow's next step).

    message(app, add, (2, 3), {}, CallOptions(countdown=5))    a task this process registered
    message(app, "reports.build", (7,))                         a task only the workers import

What decides, strongest first (options.first): the call's options; JOBS["ROUTES"] for the queue and
the priority; @task(...); the settings. A name only the workers know has no @task here: ROUTES or
the settings decide for it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Iterable
from typing import Any

from .. import many
from ..errors import ConfigurationError
from ..wire.message import Message
from ..wire.message_options import NO_MESSAGE_OPTIONS, MessageOptions
from ..wire.names import check_name
from ..wire.options import NO_OPTIONS, CallOptions, expiry_value, first
from ..wire.request import current_request
from ..wire.serializers import json_dumps
from ..wire.workflow import Step, carried
from .app import App
from .concurrency import slot_name
from .config import SERIALIZERS
from .definition import TaskDefinition
from .routing import NO_ROUTE


def message(app: App, task: TaskDefinition | str, args: Iterable[Any] | None = None,
            kwargs: dict[str, Any] | None = None, options: CallOptions = NO_OPTIONS,
            workflow: MessageOptions = NO_MESSAGE_OPTIONS) -> Message:
    """The message that sends this call, every option checked and resolved. `workflow`: what a
    workflow adds (chain, chord) to the options the call gives. Sent from inside a running task, its
    parent is that task."""
    definition = task if isinstance(task, TaskDefinition) else app.registry.find(task)
    name = definition.name if definition is not None else check_name("task name", task, ValueError)
    args, kwargs = many.positional(args, name), many.keywords(kwargs, name)  # a str is not a list of args
    if definition is not None and definition.typing:
        definition.check_arguments(args, kwargs)
    config = app.config
    route = NO_ROUTE
    if app.router and (options.queue is None or options.priority is None):
        route = app.router.route(name, args, kwargs, options.given())
    serializer = first(options.serializer, definition.serializer if definition else None,
                       default=config.task_serializer)
    if serializer not in config.accept_content:
        fix = ("add it there (workers decode only what it lists) or send with one it lists" if serializer in SERIALIZERS
               else f"jobs serializes with {' or '.join(SERIALIZERS)}")
        raise ConfigurationError(f"{name}: serializer {serializer!r} is not in JOBS['ACCEPT_CONTENT'] "
                                 f"{list(config.accept_content)}, so workers would refuse the message: {fix}")
    expires = first(options.expires, _task_expires(definition), default=None)
    check_unique(name, options, definition)
    unique_for = first(options.unique_for, definition.unique_for if definition else None, default=None)
    encrypted = bool(definition and definition.encrypt)
    if encrypted or workflow is not NO_MESSAGE_OPTIONS or options.link or options.link_error:
        _no_sealed_workflows(app, name, encrypted, workflow, options)
    queue = first(options.queue, route.queue, definition.queue if definition else None, default=config.default_queue)
    task_id = options.task_id or str(uuid.uuid4())
    if app.shards.spreads:
        # A spread queue's part (shards.py): by the caller's key, a unique task's lock (one part holds
        # it), else the id. A join's branches and callback too: a join is counted on its home shard
        # whichever shards they run on (execution/followup.py join_home).
        key = options.spread_key or (_unique_text(app, name, args, kwargs, options.unique_key) if unique_for
                                     else task_id)
        queue = app.shards.place(queue, key)
    if definition is not None and definition.concurrency is not None:
        workflow = workflow.replace(slot=slot_name(definition, args, kwargs))
    if workflow.parent is None:
        running = current_request()
        if running is not None:
            workflow = workflow.replace(parent=running.id)
    return Message(
        id=task_id, task=name, args=args, kwargs=kwargs, queue=queue,
        priority=first(options.priority, route.priority, definition.priority if definition else None, default=0),
        eta=options.eta.timestamp() if options.eta is not None else None, countdown=options.countdown,
        expires=expires.timestamp() if isinstance(expires, dt.datetime) else None,
        expires_in=float(expires) if isinstance(expires, (int, float)) else None,
        content_type=serializer, encrypted=encrypted,
        options=_run_options(app, name, args, kwargs, options, unique_for, workflow, queue),
    )


def _run_options(app: App, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], options: CallOptions,
                 unique_for: float | None, workflow: MessageOptions, queue: str) -> MessageOptions:
    """What the message carries of how to run it: the call's own settings and the unique lock."""
    if options is NO_OPTIONS and not unique_for:
        return workflow  # nothing to add (most calls: this runs for every message)
    return workflow.replace(
        ignore_result=options.ignore_result, time_limit=options.time_limit,
        soft_time_limit=options.soft_time_limit, headers=options.headers,
        link=options.link or workflow.link, link_error=options.link_error or workflow.link_error,
        unique=unique_lock(app, name, args, kwargs, options.unique_key, queue) if unique_for else None,
        unique_ms=int(unique_for * 1000) if unique_for else 0)


def _no_sealed_workflows(app: App, name: str, encrypted: bool, workflow: MessageOptions,
                         options: CallOptions) -> None:
    """An encrypt=True task is not a workflow's step, nor has one: what a workflow carries (the
    steps' arguments, a step's result passed on to the next) travels in the clear (wire/sealing.py)."""
    steps = [*workflow.chain, *workflow.link, *workflow.link_error, *(options.link or ()), *(options.link_error or ())]
    related = encrypted and (steps or workflow.chord is not None or workflow.chord_of is not None)
    sealed = [step.task for step in carried(steps, workflow.chord) if _encrypts(app, step.task)]
    if related or sealed:
        raise ConfigurationError(f"{name}: a task with encrypt=True ({', '.join(sealed) or name}) cannot be part of a "
                                 "chain, a chord or a link: these carry their steps' arguments and results "
                                 "unencrypted. Call it from a task instead (a plain group is fine).")


def queue_of(app: App, step: Step) -> str:
    """The queue a step's message will go to, decided as message() decides it."""
    options = step.call_options()
    if options.queue is not None:
        return options.queue
    definition = app.registry.find(step.task)
    route = app.router.route(step.task, step.args, step.kwargs, options.given()) if app.router else NO_ROUTE
    return first(route.queue, definition.queue if definition else None, default=app.config.default_queue)


def _encrypts(app: App, name: str) -> bool:
    definition = app.registry.find(name)
    return bool(definition and definition.encrypt)


def _task_expires(definition: TaskDefinition | None) -> float | dt.datetime | None:
    if definition is None or definition.expires is None:
        return None
    return expiry_value(definition.name, definition.expires)


def unique_lock(app: App, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], key: str | None,
                queue: str) -> str:
    """The key of a unique task's lock: its unique_key, else its arguments (the same arguments are
    the same run); on the shard of the queue it is sent to (enqueue_unique.lua takes it there)."""
    return app.shard_keys[app.shard_of(queue)].unique(name, _unique_text(app, name, args, kwargs, key))


def _unique_text(app: App, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], key: str | None) -> str:
    """What tells one unique run from another: its unique_key, else a digest of its arguments."""
    if key is not None:
        return key
    try:
        text = json_dumps([list(args), sorted(kwargs.items())])
    except (TypeError, ValueError):
        text = repr((args, sorted(kwargs.items())))
    if _encrypts(app, name) and app.config.signing_key:  # a hash of secret arguments could be guessed back
        return hmac.new(app.config.signing_key, text.encode(), "sha256").hexdigest()
    return hashlib.sha1(text.encode()).hexdigest()


def check_unique(name: str, options: CallOptions, definition: TaskDefinition | None) -> None:
    """unique_key needs a lock life (unique_for) from the call or the task."""
    if options.unique_key is not None and not (options.unique_for or (definition and definition.unique_for)):
        raise ValueError(f"{name}: unique_key needs unique_for (how long the lock may live, in seconds) on "
                         "@task(...) or on the call")
