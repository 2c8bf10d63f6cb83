"""@task and Task: declaring a function as a background task, and sending calls of it.

``@task`` wraps a function in a Task (or the class given as base=) and registers it by name. Calling
the task runs the function here, as before; .delay()/.apply_async() check the call's options
(options.CallOptions), make the message (build.py) and send it (producer.py): one Redis round trip,
or at commit, or, in EAGER mode, inline through the same code a worker runs.

What a task is, apart from sending (its options, run, hooks, retry), is in definition.py, which is
all the worker needs.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable
from typing import Any

from ..setup.app import current
from ..setup.build import message as build_message
from ..setup.definition import TaskDefinition
from ..setup.registry import registry
from ..setup.task_options import TASK_OPTIONS
from ..wire.message import Message
from ..wire.options import CallOptions
from . import eager
from .asyncresult import AsyncResult as _AsyncResult  # the name Task.AsyncResult shadows
from .canvas import Signature
from .eager import EagerResult
from .producer import send


class Task(TaskDefinition):
    """A background task. Subclass it and pass base= to share behaviour between tasks."""

    def AsyncResult(self, task_id: str) -> _AsyncResult:  # noqa: N802 - Celery's name
        return _AsyncResult(task_id, self.name)

    def delay(self, *args: Any, **kwargs: Any) -> _AsyncResult:
        return self.apply_async(args, kwargs)

    def apply_async(self, args: Iterable[Any] | None = None, kwargs: dict[str, Any] | None = None,
                    **options: Any) -> _AsyncResult:
        """Send one call, with apply_async's options (Celery's names; options.FIELDS lists them).
        The arguments are encoded (and refused if they cannot be) at once, even with
        on_commit=True, so a bad argument fails here and not at commit time."""
        call = CallOptions.parse(self.name, options)
        app = current()
        [result] = send(app, [build_message(app, self, args, kwargs, call)], call.on_commit)
        return result

    def apply(self, args: Iterable[Any] | None = None, kwargs: dict[str, Any] | None = None,
              **options: Any) -> EagerResult:
        """Run it here and now, through the code a worker runs (Celery's apply): the arguments and
        the result go through the serializers, retries run inline; the result is final. Whatever
        JOBS["EAGER"] says; JOBS["EAGER_PROPAGATES"] raises its exception instead."""
        app = current()
        return eager.run(app, build_message(app, self, args, kwargs, CallOptions.parse(self.name, options)))

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> _AsyncResult:
        """delay(), once the current database transaction commits; never if it rolls back. Outside
        a transaction, at once. So a task never looks for a row its caller has not committed yet."""
        return self.apply_async(args, kwargs, on_commit=True)

    async def adelay(self, *args: Any, **kwargs: Any) -> _AsyncResult:
        """delay() for async views: the enqueue (one Redis round trip) runs in a thread, so the
        event loop is not blocked; `await result.aget()` waits for the result the same way."""
        return await self.aapply_async(args, kwargs)

    async def aapply_async(self, args: Iterable[Any] | None = None, kwargs: dict[str, Any] | None = None,
                           **options: Any) -> _AsyncResult:
        # Async code runs outside any Django transaction (atomic blocks are sync code), so there
        # is no commit to wait for: sent now, whatever on_commit / ENQUEUE_ON_COMMIT say.
        options["on_commit"] = False
        return await asyncio.to_thread(functools.partial(self.apply_async, args, kwargs, **options))

    def message(self, args: Iterable[Any] | None = None, kwargs: dict[str, Any] | None = None,
                **options: Any) -> Message:
        """The Message that apply_async would send, with every option checked (for enqueue_many)."""
        return build_message(current(), self, args, kwargs, CallOptions.parse(self.name, options))

    def s(self, *args: Any, **kwargs: Any) -> Signature:
        """A signature: this call, described, to send later or put in a chain, group or chord."""
        return Signature(self, args, kwargs)

    def si(self, *args: Any, **kwargs: Any) -> Signature:
        """An immutable signature: in a chain it does not receive the previous step's result."""
        return Signature(self, args, kwargs, immutable=True)

    def signature(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None, **options: Any) -> Signature:
        return Signature(self, args, kwargs, options)


def task(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Declare a background task: ``@task`` or ``@task(queue="emails", name="shop.send")``."""
    unknown = set(options) - set(TASK_OPTIONS)
    if unknown:
        raise TypeError(
            f"@task got unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(TASK_OPTIONS))}"
        )
    base = options.pop("base", None)
    base = Task if base is None else base

    def decorate(func: Callable[..., Any]) -> Task:
        if not (isinstance(base, type) and issubclass(base, Task)):
            name = options.get("name") or f"{func.__module__}.{func.__qualname__}"
            raise TypeError(f"@task {name}: base must be a subclass of jobs.Task, not {base!r}")
        instance = base(func, **options)
        registry.register(instance)
        return instance

    return decorate(fn) if fn is not None else decorate
