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
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, Concatenate, Generic, Literal, overload

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
from .types import P, R


class Task(TaskDefinition, Generic[P, R]):
    """A background task. Subclass it and pass base= to share behaviour between tasks.

    Typed by its function: ``Task[[int, str], Report]`` for ``def f(a: int, b: str = "") -> Report``
    (types.py): delay(), si() and calling it check the arguments, and its results' get() is a
    Report. apply_async(args=, kwargs=) and s() take any arguments: a list cannot carry a
    ParamSpec, and a signature in a chain is partial on purpose (it receives the previous result)."""

    if TYPE_CHECKING:
        def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...

    def AsyncResult(self, task_id: str) -> _AsyncResult[R]:  # noqa: N802 - Celery's name
        return _AsyncResult(task_id, self.name)

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> _AsyncResult[R]:
        return self.apply_async(args, kwargs)

    def apply_async(self, args: Iterable[Any] | None = None, kwargs: dict[str, Any] | None = None,
                    **options: Any) -> _AsyncResult[R]:
        """Send one call, with apply_async's options (Celery's names; options.FIELDS lists them).
        The arguments are encoded (and refused if they cannot be) at once, even with
        on_commit=True, so a bad argument fails here and not at commit time."""
        call = CallOptions.parse(self.name, options)
        app = current()
        [result] = send(app, [build_message(app, self, args, kwargs, call)], call.on_commit, outbox=call.outbox,
                         using=call.using)
        return result

    def apply(self, args: Iterable[Any] | None = None, kwargs: dict[str, Any] | None = None,
              **options: Any) -> EagerResult[R]:
        """Run it here and now, through the code a worker runs (Celery's apply): the arguments and
        the result go through the serializers, retries run inline; the result is final. Whatever
        JOBS["EAGER"] says; JOBS["EAGER_PROPAGATES"] raises its exception instead."""
        app = current()
        return eager.run(app, build_message(app, self, args, kwargs, CallOptions.parse(self.name, options)))

    def delay_on_commit(self, *args: P.args, **kwargs: P.kwargs) -> _AsyncResult[R]:
        """delay(), once the current database transaction commits; never if it rolls back. Outside
        a transaction, at once. So a task never looks for a row its caller has not committed yet."""
        return self.apply_async(args, kwargs, on_commit=True)

    async def adelay(self, *args: P.args, **kwargs: P.kwargs) -> _AsyncResult[R]:
        """delay() for async views: the enqueue (one Redis round trip) runs in a thread, so the
        event loop is not blocked; `await result.aget()` waits for the result the same way."""
        return await self.aapply_async(args, kwargs)

    async def aapply_async(self, args: Iterable[Any] | None = None, kwargs: dict[str, Any] | None = None,
                           **options: Any) -> _AsyncResult[R]:
        # Async code runs outside any Django transaction (atomic blocks are sync code), so there
        # is no commit to wait for: sent now, whatever on_commit / ENQUEUE_ON_COMMIT say.
        options["on_commit"] = False
        return await asyncio.to_thread(functools.partial(self.apply_async, args, kwargs, **options))

    def message(self, args: Iterable[Any] | None = None, kwargs: dict[str, Any] | None = None,
                **options: Any) -> Message:
        """The Message that apply_async would send, with every option checked (for enqueue_many)."""
        return build_message(current(), self, args, kwargs, CallOptions.parse(self.name, options))

    def s(self, *args: Any, **kwargs: Any) -> Signature[R]:
        """A signature: this call, described, to send later or put in a chain, group or chord. Its
        arguments may be partial (a chain adds the previous result in front), so they are not typed."""
        return Signature(self, args, kwargs)

    def si(self, *args: P.args, **kwargs: P.kwargs) -> Signature[R]:
        """An immutable signature: in a chain it does not receive the previous step's result, so it
        is the whole call, typed as the task's."""
        return Signature(self, args, kwargs, immutable=True)

    def signature(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                  **options: Any) -> Signature[R]:
        return Signature(self, args, kwargs, options)


if TYPE_CHECKING:
    class CoroutineTask(Task[P, R]):
        """What @task makes of an `async def` to a type checker: a Task whose result is what the
        coroutine returns, and which, called here, gives the coroutine to await. At run time it is a
        Task (a worker runs either kind)."""

        def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]: ...  # type: ignore[override]

    class _Decorator:
        """@task(...) with options: what it returns, typed by the function it is put on."""

        @overload
        def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]]) -> CoroutineTask[P, R]: ...
        @overload
        def __call__(self, fn: Callable[P, R]) -> Task[P, R]: ...
        def __call__(self, fn: Callable[..., Any]) -> Any: ...

    class _BoundDecorator:
        """@task(bind=True, ...): the function's first parameter is the task itself, not sent."""

        @overload
        def __call__(self, fn: Callable[Concatenate[Any, P], Coroutine[Any, Any, R]]) -> CoroutineTask[P, R]: ...
        @overload
        def __call__(self, fn: Callable[Concatenate[Any, P], R]) -> Task[P, R]: ...
        def __call__(self, fn: Callable[..., Any]) -> Any: ...


@overload
def task(fn: Callable[P, Coroutine[Any, Any, R]], /) -> CoroutineTask[P, R]: ...
@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...
@overload
def task(*, bind: Literal[True], **options: Any) -> _BoundDecorator: ...
@overload
def task(*, bind: Literal[False] = ..., **options: Any) -> _Decorator: ...


def task(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Declare a background task: ``@task`` or ``@task(queue="emails", name="shop.send")``."""
    unknown = set(options) - set(TASK_OPTIONS)
    if unknown:
        raise TypeError(
            f"@task got unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(TASK_OPTIONS))}"
        )
    base = options.pop("base", None)
    base = Task if base is None else base

    def decorate(func: Callable[..., Any]) -> Task[..., Any]:
        if not (isinstance(base, type) and issubclass(base, Task)):
            name = options.get("name") or f"{func.__module__}.{func.__qualname__}"
            raise TypeError(f"@task {name}: base must be a subclass of jobs.Task, not {base!r}")
        instance = base(func, **options)
        registry.register(instance)
        return instance

    return decorate(fn) if fn is not None else decorate
