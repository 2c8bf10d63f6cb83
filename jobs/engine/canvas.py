"""Subtasks and workflows: signatures, chain, group and chord.

    add.s(2, 3)                             a signature: a call, not yet sent (add.si: its args fixed)
    chain(add.s(1, 1), mul.s(10), log.s())  each result is passed to the next (first argument)
    group(add.s(i, i) for i in range(100))  in parallel; GroupResult.get() gathers the results
    chord(group, summarise.s())             the callback runs once, with the list of results

How it stays exactly once without a coordinator: every step gets its task id when the workflow is
sent, and what follows a step travels in that step's message (workflow.py says how; the worker's
side is worker/followup.py, which needs none of this module). When a worker settles a step, the
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

import dataclasses
import uuid
from collections.abc import Iterable
from typing import Any

from . import eager
from .app import App, current
from .asyncresult import AsyncResult, GroupResult
from .build import message as build_message
from .definition import TaskDefinition
from .message import Message, MessageOptions
from .options import CallOptions
from .producer import send
from .workflow import ChordSpec, Step


class Signature(Step):
    """One call of a task, described but not sent (a workflow.Step with the sending added). The task
    is named, not held, so a signature can name a task only workers import, and travel inside a
    message."""

    def __init__(self, task: TaskDefinition | str, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                 options: CallOptions | dict[str, Any] | None = None, immutable: bool = False,
                 id: str | None = None) -> None:
        name = task if isinstance(task, str) else task.name
        if not isinstance(options, CallOptions):
            options = CallOptions.parse(name, options or {}, signature=True)
        super().__init__(name, tuple(args), dict(kwargs or {}), options, immutable, id)

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.task}.{'si' if self.immutable else 's'}({', '.join(parts)})"

    def __or__(self, other: Signature | Chain) -> Chain:
        return chain(self, other)

    def set(self, **options: Any) -> Signature:
        """Options for when it is sent: add.s(1, 2).set(queue="math", countdown=5)."""
        return dataclasses.replace(self, options=self.options.merge(CallOptions.parse(self.task, options,
                                                                                       signature=True)))

    def link(self, callback: Signature) -> Signature:
        """Send `callback` when this succeeds, its result in front of the callback's arguments
        (Celery's sig.link). As in Celery, this signature is changed; the callback is returned."""
        self._add("link", callback)
        return callback

    def link_error(self, errback: Signature) -> Signature:
        """Run `errback` when this fails (Celery's sig.link_error; see worker/followup.py for how it
        is called). This signature is changed; the errback is returned."""
        self._add("link_error", errback)
        return errback

    def on_error(self, errback: Signature) -> Signature:
        """link_error, returning this signature (Celery's sig.on_error): add.s(1).on_error(log.s()).delay()."""
        self._add("link_error", errback)
        return self

    def _add(self, option: str, callback: Signature) -> None:
        if not isinstance(callback, Signature):
            raise TypeError(f"{self.task}: {option} takes a signature like log.s(), not {callback!r}")
        added = (*(getattr(self.options, option) or ()), callback)
        # A Step is frozen (it travels in messages as a value); Celery's link() changes the signature
        # in place, and ported code relies on it.
        changes: dict[str, Any] = {option: added}
        object.__setattr__(self, "options", dataclasses.replace(self.options, **changes))

    def clone(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None) -> Signature:
        """A copy with `args` put in front and `kwargs` merged (immutable: unchanged)."""
        return self.with_args(tuple(args), kwargs)  # type: ignore[return-value]

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        return self.apply_async(args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """sig(): sent, as delay() (so are chain(...)() and group(...)()). Unlike Celery's, whose
        sig() runs the task here: with jobs, a call that looks like sending sends."""
        return self.apply_async(args, kwargs)

    def apply_async(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                    **options: Any) -> AsyncResult:
        """Send it as its task's apply_async would (unique locks, on_commit, eager mode included)."""
        call = CallOptions.parse(self.task, options)
        app = current()
        [result] = send(app, [self._message(app, tuple(args), kwargs, call)], call.on_commit)
        return result

    def _message(self, app: App, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None,
                 call: CallOptions | None = None, workflow: MessageOptions | None = None) -> Message:
        step = self.with_args(args, kwargs)
        options = step.call_options() if call is None else step.call_options().merge(call)
        return build_message(app, step.task, step.args, step.kwargs, options, workflow or MessageOptions())


def signature(name: str | TaskDefinition, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
              **options: Any) -> Signature:
    """A signature by task name: signature("reports.build", (7,), queue="reports")."""
    return Signature(name, args, kwargs, options)


def _identified(sig: Signature) -> Signature:
    """With a task id of its own, given now: a workflow's steps have theirs before it is sent."""
    return sig if sig.id else dataclasses.replace(sig, id=str(uuid.uuid4()))


def _signature(value: Any, what: str) -> Signature:
    if isinstance(value, Signature):
        return value
    raise TypeError(f"{what} must be signatures like add.s(1, 2), not {value!r} "
                    "(chains of groups and groups of chains are not supported yet)")


# -- chain -------------------------------------------------------------------------------------------

class Chain:
    """Steps run one after the other, each given the result of the one before (unless immutable)."""

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

    def __call__(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """Sent, as delay() (Celery's chain(...)())."""
        return self.delay(*args, **kwargs)

    def apply_async(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                    **options: Any) -> AsyncResult:
        """Send the first step (with `args` put in front of its own); returns the last step's
        result, whose .parent is the one before, and so on."""
        call = CallOptions.parse(self.steps[0].task, options)
        steps = [_identified(s) for s in self.steps]
        app = current()
        if app.config.eager:
            first = steps[0].with_args(tuple(args), kwargs)
            first = dataclasses.replace(first, options=first.options.merge(call))
            return eager.chain(app, [first, *steps[1:]])
        message = steps[0]._message(app, tuple(args), kwargs, call, MessageOptions(chain=tuple(steps[1:])))
        send(app, [message], call.on_commit)
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

class Group:
    """Members run in parallel; their results, in order, in a GroupResult."""

    def __init__(self, members: list[Signature]) -> None:
        self.members = members

    def __repr__(self) -> str:
        return f"group({', '.join(map(repr, self.members))})"

    def __or__(self, other: Signature) -> Chord:
        return Chord(self, other)

    def delay(self, *args: Any, **kwargs: Any) -> GroupResult:
        return self.apply_async(args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> GroupResult:
        """Sent, as delay() (Celery's group(...)())."""
        return self.delay(*args, **kwargs)

    def apply_async(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                    **options: Any) -> GroupResult:
        """Send every member in one round trip (`args` put in front of each one's own)."""
        members = [_identified(m) for m in self.members]
        call = CallOptions.parse(members[0].task if members else "group", options)
        app = current()
        if not members:
            return GroupResult([])
        results = send(app, [m._message(app, tuple(args), kwargs, call) for m in members], call.on_commit)
        return GroupResult(results)


def group(*members: Any) -> Group:
    """group(a.s(), b.s()) or group(add.s(i, i) for i in range(10))."""
    if len(members) == 1 and not isinstance(members[0], Signature):
        if not hasattr(members[0], "__iter__") or isinstance(members[0], (Chain, Group, str)):
            raise TypeError(f"group() members must be signatures like add.s(1, 2), not {members[0]!r} "
                            "(groups of chains or of groups are not supported yet)")
        members = tuple(members[0])
    return Group([_signature(m, "group() members") for m in members])


class Chord:
    """A group, and a callback that runs once with all its members' results."""

    def __init__(self, header: Group, body: Signature) -> None:
        if not header.members:
            raise ValueError("chord() needs at least one member (an empty group would never call back)")
        self.header = header
        self.body = _signature(body, "a chord's callback")

    def __repr__(self) -> str:
        return f"chord({self.header!r}, {self.body!r})"

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        return self.apply_async(args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """Sent, as delay() (Celery's chord(...)())."""
        return self.delay(*args, **kwargs)

    def apply_async(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                    **options: Any) -> AsyncResult:
        """Send the members; the callback follows when the last one ends. Returns the callback's
        result, whose .parent is the GroupResult of the members."""
        members = [_identified(m) for m in self.header.members]
        call = CallOptions.parse(members[0].task, options)
        body = _identified(self.body)
        app = current()
        if app.config.eager:
            firsts = [m.with_args(tuple(args), kwargs) for m in members]
            ran, out = eager.chord(app, [dataclasses.replace(m, options=m.options.merge(call)) for m in firsts], body)
            out.parent = GroupResult(list(ran))
            return out
        spec = ChordSpec(str(uuid.uuid4()), len(members), body)
        # The members' ids, once (the callback reads them), not in every message: a chord of n
        # members would otherwise carry n² ids. Written before the members are sent.
        ids = [m.id or "" for m in members]
        app.broker.set_chord_members(spec.id, ids)
        send(app, [m._message(app, tuple(args), kwargs, call, MessageOptions(chord=spec)) for m in members],
             call.on_commit)
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
