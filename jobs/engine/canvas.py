"""Subtasks and workflows: signatures, chain, group and chord.

    add.s(2, 3)                             a signature: a call, not yet sent (add.si: its args fixed)
    chain(add.s(1, 1), mul.s(10), log.s())  each result is passed to the next (first argument)
    group(add.s(i, i) for i in range(100))  in parallel; GroupResult.get() gathers the results
    chord(group, summarise.s())             the callback runs once, with the list of results

How it stays exactly once without a coordinator: every step gets its task id when the workflow is
sent, and what follows a step travels in that step's message (the worker's side is
worker/followup.py). When a worker settles a step, the
follow-up is applied in the same atomic Lua call that acknowledges it (lib/ack.lua), fenced by its
delivery token like any acknowledgement:
- chain: the next step is enqueued with the result prepended to its arguments; on a failure the
  remaining steps get the failure as their result, so the chain's result (its last step's) fails
  with the original exception instead of waiting forever;
- chord: each member, when it ends (success or failure), adds its id to a set; the acknowledgement
  that completes the set enqueues the callback, so it is sent exactly once even if a worker dies in
  the middle (the member's lease runs out, it runs again, and is counted when that run is
  acknowledged). The callback reads the members' results when it starts. If one failed, the
  callback does not run: its result is a ChordError naming the member (Celery's policy).
A killed worker therefore never loses nor doubles a step: what its lease covered runs again, and
only the acknowledgement that wins counts.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from . import app as app_module
from .asyncresult import AsyncResult
from .errors import ConfigurationError, JobsError
from .message import Message
from .results import FAILURE
from .serializers import json_dumps

#: Options a signature may carry (those of apply_async that make sense before the call exists).
SIGNATURE_OPTIONS = frozenset({"queue", "priority", "countdown", "expires", "ignore_result", "time_limit",
                               "soft_time_limit"})


class ChordError(JobsError):
    """A chord's callback did not run because one of its members failed."""


class Signature:
    """One call of a task, described but not sent. The task is named, not held, so a signature can
    name a task only workers import, and travel inside a message."""

    __slots__ = ("task", "args", "kwargs", "options", "immutable", "id")

    def __init__(self, task: Any, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                 options: dict[str, Any] | None = None, immutable: bool = False, id: str | None = None) -> None:
        self.task: str = task if isinstance(task, str) else task.name
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.options = dict(options or {})
        unknown = set(self.options) - SIGNATURE_OPTIONS
        if unknown:
            raise TypeError(f"signature of {self.task}: unknown option(s) {sorted(unknown)}; "
                            f"known: {sorted(SIGNATURE_OPTIONS)}")
        self.immutable = immutable
        self.id = id

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.task}.{'si' if self.immutable else 's'}({', '.join(parts)})"

    def __or__(self, other: Signature | Chain) -> Chain:
        return chain(self, other)

    def set(self, **options: Any) -> Signature:
        """Options for when it is sent: add.s(1, 2).set(queue="math", countdown=5)."""
        return Signature(self.task, self.args, self.kwargs, {**self.options, **options}, self.immutable, self.id)

    def clone(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None) -> Signature:
        """A copy with `args` put in front and `kwargs` merged (immutable: unchanged)."""
        if self.immutable:
            return Signature(self.task, self.args, self.kwargs, self.options, True, self.id)
        return Signature(self.task, (*args, *self.args), {**self.kwargs, **(kwargs or {})}, self.options,
                         False, self.id)

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        return self.apply_async(args, kwargs)

    def apply_async(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                    **options: Any) -> AsyncResult:
        """Send it as its task's apply_async would (unique locks, on_commit, eager mode included)."""
        on_commit = options.pop("on_commit", None)
        sig = self.clone(args, kwargs).set(**options)
        app = app_module.current()
        task = app.registry._tasks.get(sig.task)
        if task is not None:
            return task.apply_async(sig.args, sig.kwargs, task_id=sig.id, on_commit=on_commit, **sig.options)
        if app.config.eager:
            return _eager(app, sig)
        message = sig.message()
        _send(app, [message], on_commit)
        return AsyncResult(message.id, sig.task)

    def message(self, workflow: dict[str, Any] | None = None) -> Message:
        """The message that sends this call; `workflow` options ride along in it."""
        app = app_module.current()
        opts = dict(self.options)
        task = app.registry._tasks.get(self.task)
        if task is not None:
            message = task.message(self.args, self.kwargs, task_id=self.id, **opts)
        else:
            from .send import send_task_message

            message = send_task_message(app, self.task, self.args, self.kwargs, task_id=self.id,
                                        queue=opts.get("queue"), priority=opts.get("priority"),
                                        expires=opts.get("expires"), countdown=opts.get("countdown"))
            run_options = _run_options(self.task, opts)
            if run_options:
                message = message.replace(options={**message.options, **run_options})
        if workflow:
            message = message.replace(options={**message.options, **workflow})
        return message

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"t": self.task, "id": self.id}
        if self.args:
            doc["a"] = list(self.args)
        if self.kwargs:
            doc["k"] = self.kwargs
        if self.options:
            doc["o"] = self.options
        if self.immutable:
            doc["i"] = True
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Signature:
        return cls(doc["t"], doc.get("a", ()), doc.get("k"), doc.get("o"), doc.get("i", False), doc.get("id"))

    def _with_id(self) -> Signature:
        return self if self.id else Signature(self.task, self.args, self.kwargs, self.options, self.immutable,
                                              str(uuid.uuid4()))


def _send(app: Any, messages: list[Message], on_commit: bool | None) -> None:
    """Enqueue a workflow's first messages in one round trip: now, or when the caller's transaction
    commits (on_commit=True, or ENQUEUE_ON_COMMIT), as delay() does. Encoded now either way, so a
    bad argument fails at the call."""
    if on_commit is None:
        on_commit = app.config.enqueue_on_commit
    if on_commit:
        for message in messages:
            message.encode()
        app_module.after_commit(functools.partial(app.broker.enqueue, messages))
    else:
        app.broker.enqueue(messages)


def _run_options(name: str, opts: dict[str, Any]) -> dict[str, Any]:
    """ignore_result / time limits of a signature of a task this process does not import, checked
    here as Task.message checks them."""
    from .task import time_limits

    out: dict[str, Any] = dict(time_limits(name, opts))
    if opts.get("ignore_result") is not None:
        out["ignore_result"] = bool(opts["ignore_result"])
    return out


def _signature(value: Any, what: str) -> Signature:
    if isinstance(value, Signature):
        return value
    raise TypeError(f"{what} must be signatures like add.s(1, 2), not {value!r} "
                    "(chains of groups and groups of chains are not supported yet)")


# -- chain -------------------------------------------------------------------------------------------

class Chain:
    def __init__(self, steps: list[Signature]) -> None:
        if not steps:
            raise ValueError("chain() needs at least one signature")
        self.steps = steps

    def __repr__(self) -> str:
        return " | ".join(map(repr, self.steps))

    def __or__(self, other: Signature | Chain) -> Chain:
        return chain(self, other)

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        return self.apply_async(args, kwargs)

    def apply_async(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                    **options: Any) -> AsyncResult:
        """Send the first step (with `args` put in front of its own); returns the last step's
        result, whose .parent is the one before, and so on."""
        on_commit = options.pop("on_commit", None)
        steps = [s._with_id() for s in self.steps]
        steps[0] = steps[0].clone(args, kwargs).set(**options)
        app = app_module.current()
        if app.config.eager:
            return _eager_chain(app, steps)
        message = steps[0].message({"chain": [s.to_dict() for s in steps[1:]]} if len(steps) > 1 else None)
        _send(app, [message], on_commit)
        return _linked(steps)


def chain(*steps: Signature | Chain) -> Chain:
    flat: list[Signature] = []
    for step in steps:
        flat.extend(step.steps if isinstance(step, Chain) else [_signature(step, "chain() steps")])
    return Chain(flat)


def _linked(steps: list[Signature]) -> AsyncResult:
    result = None
    for step in steps:
        nxt = AsyncResult(step.id or "", step.task)
        nxt.parent = result
        result = nxt
    assert result is not None
    return result


# -- group and chord ---------------------------------------------------------------------------------

class GroupResult:
    """The results of a group's members, in the group's order."""

    def __init__(self, results: list[AsyncResult], id: str | None = None) -> None:
        self.results = results
        self.id = id or str(uuid.uuid4())

    def __repr__(self) -> str:
        return f"<GroupResult {self.id} of {len(self.results)}>"

    def __iter__(self) -> Iterator[AsyncResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, index: int) -> AsyncResult:
        return self.results[index]

    def ready(self) -> bool:
        return all(r.ready() for r in self.results)

    def successful(self) -> bool:
        return all(r.successful() for r in self.results)

    def failed(self) -> bool:
        return any(r.failed() for r in self.results)

    def completed_count(self) -> int:
        return sum(r.successful() for r in self.results)

    def get(self, timeout: float | None = None, propagate: bool = True) -> list[Any]:
        """Every member's value, in order; waits for each in turn within one overall timeout."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        values = []
        for result in self.results:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            values.append(result.get(timeout=left, propagate=propagate))
        return values

    join = get

    def revoke(self, terminate: bool = False) -> None:
        app_module.current().broker.revoke([r.id for r in self.results], terminate)


class Group:
    def __init__(self, members: list[Signature]) -> None:
        self.members = members

    def __repr__(self) -> str:
        return f"group({', '.join(map(repr, self.members))})"

    def __or__(self, other: Signature) -> Chord:
        return chord(self, other)

    def delay(self, *args: Any, **kwargs: Any) -> GroupResult:
        return self.apply_async(args, kwargs)

    def apply_async(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                    **options: Any) -> GroupResult:
        """Send every member in one round trip (`args` put in front of each one's own)."""
        on_commit = options.pop("on_commit", None)
        members = [m._with_id().clone(args, kwargs).set(**options) for m in self.members]
        app = app_module.current()
        if app.config.eager:
            return GroupResult([_eager(app, m) for m in members])
        if members:
            _send(app, [m.message() for m in members], on_commit)
        return GroupResult([AsyncResult(m.id or "", m.task) for m in members])


def group(*members: Any) -> Group:
    """group(a.s(), b.s()) or group(add.s(i, i) for i in range(10))."""
    if len(members) == 1 and not isinstance(members[0], Signature):
        if not hasattr(members[0], "__iter__") or isinstance(members[0], (Chain, Group, str)):
            raise TypeError(f"group() members must be signatures like add.s(1, 2), not {members[0]!r} "
                            "(groups of chains or of groups are not supported yet)")
        members = tuple(members[0])
    return Group([_signature(m, "group() members") for m in members])


class Chord:
    def __init__(self, header: Group, body: Signature) -> None:
        if not header.members:
            raise ValueError("chord() needs at least one member (an empty group would never call back)")
        self.header = header
        self.body = _signature(body, "a chord's callback")

    def __repr__(self) -> str:
        return f"chord({self.header!r}, {self.body!r})"

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        return self.apply_async(args, kwargs)

    __call__ = delay

    def apply_async(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                    **options: Any) -> AsyncResult:
        """Send the members; the callback follows when the last one ends. Returns the callback's
        result, whose .parent is the GroupResult of the members."""
        on_commit = options.pop("on_commit", None)
        members = [m._with_id().clone(args, kwargs).set(**options) for m in self.header.members]
        body = self.body._with_id()
        app = app_module.current()
        ids = [m.id or "" for m in members]
        if app.config.eager:
            return _eager_chord(app, members, body)
        chord_id = str(uuid.uuid4())
        spec = {"id": chord_id, "n": len(members), "cb": body.to_dict()}
        # The members' ids, once (the callback reads them), not in every message: a chord of n
        # members would otherwise carry n² ids. Written before the members are sent.
        broker = app.broker
        broker.link.call("SET", _members_key(broker.keys, chord_id), json_dumps(ids), "PX",
                         int(app.config.result_expires * 1000))
        _send(app, [m.message({"chord": spec}) for m in members], on_commit)
        result = AsyncResult(body.id or "", body.task)
        result.parent = GroupResult([AsyncResult(i, m.task) for i, m in zip(ids, members, strict=True)])
        return result


def chord(header: Group | Iterable[Signature], body: Signature | None = None) -> Any:
    """chord(members, callback).delay() — or chord(members)(callback), which sends at once, as in
    Celery."""
    group_ = header if isinstance(header, Group) else group(list(header))
    if body is None:
        return lambda callback: Chord(group_, callback).apply_async()
    return Chord(group_, body)


def _members_key(keys: Any, chord_id: str) -> str:
    return f"{keys.base}chord:{chord_id}:of"


# -- eager mode: the same workflows, inline ------------------------------------------------------------

def _eager(app: Any, sig: Signature) -> AsyncResult:
    task = app.registry._tasks.get(sig.task)
    if task is None:
        raise ConfigurationError(f"EAGER mode runs tasks this process knows; {sig.task!r} is not registered here")
    from .worker.execute import run_eagerly

    return run_eagerly(app, task, sig.message())


def _eager_chain(app: Any, steps: list[Signature]) -> AsyncResult:
    """As on a worker: the last step's result, and after a failure the remaining steps fail too."""
    from .asyncresult import EagerResult
    from .results import ResultMeta

    result = _eager(app, steps[0])
    for step in steps[1:]:
        parent = result
        if parent.successful():
            result = _eager(app, step.clone((parent.result,)))
        else:
            meta = parent._read()
            assert meta is not None
            result = EagerResult(step.id or "", step.task, ResultMeta(
                FAILURE, exception=meta.exception, traceback=f"{meta.traceback or ''}\n(not run: a step before it "
                "failed)", task=step.task))
        result.parent = parent
    return result


def _eager_chord(app: Any, members: list[Signature], body: Signature) -> AsyncResult:
    from .asyncresult import EagerResult
    from .results import ResultMeta

    results = GroupResult([_eager(app, m) for m in members])
    failed = next((r for r in results if not r.successful()), None)
    if failed is not None:
        error = ChordError(f"member {failed.task_name}[{failed.id}] of the chord failed: {failed.result!r}; "
                           "the callback did not run")
        if app.config.eager_propagates:
            raise error
        out: AsyncResult = EagerResult(body.id or "", body.task, ResultMeta(FAILURE, exception=error,
                                                                              task=body.task))
    else:
        out = _eager(app, body if body.immutable else body.clone((results.get(),)))
    out.parent = results
    return out
