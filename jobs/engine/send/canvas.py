"""Subtasks and workflows: signatures, chain, group and chord.

    add.s(2, 3)                             a signature: a call, not yet sent (add.si: its args fixed)
    chain(add.s(1, 1), mul.s(10), log.s())  each result is passed to the next (first argument)
    group(add.s(i, i) for i in range(100))  in parallel; GroupResult.get() gathers the results
    chord(group, summarise.s())             the callback runs once, with the list of results
    chain(a.s(), group(b.s(), c.s()), d.s())   nested, as in Celery: d is given [b, c] (workflow.py
                                            says how a nesting travels)

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
only the acknowledgement that wins counts. Nested, a branch's last step counts in its join; the
join that completes starts its callback, or counts in the join around it (a group whose list
something waits for); a failure is counted like a result, and the callback's ChordError fails what
follows. A step revoked before it runs is marked where it is taken, and what follows it with it
(lib/workflow_end.lua never_run, called by fetch.lua), since no ack will ever advance its workflow;
so is what follows a step moved to the dead letters (lib/dead.lua, whoever buries it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Generic

from .. import many
from ..setup.app import App, current
from ..setup.build import message as build_message
from ..setup.build import queue_of
from ..setup.definition import TaskDefinition
from ..wire import workflow
from ..wire.canonical import canonical, identified, nonempty_callback
from ..wire.message import Message
from ..wire.message_options import MessageOptions
from ..wire.options import CallOptions
from ..wire.workflow import Node, Step, joins, leaves, start
from . import eager
from .asyncresult import AsyncResult
from .groupresult import GroupResult, tree
from .producer import send
from .types import R_co


class Signature(Step, Generic[R_co]):
    """One call of a task, described but not sent (a workflow.Step with the sending added). The task
    is named, not held, so a signature can name a task only workers import, and travel inside a
    message."""

    def __init__(self, task: TaskDefinition | str, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                 options: CallOptions | dict[str, Any] | None = None, immutable: bool = False,
                 id: str | None = None) -> None:
        name = task if isinstance(task, str) else task.name
        if not isinstance(options, CallOptions):
            options = CallOptions.parse(name, options or {}, signature=True)
        super().__init__(name, many.positional(args, name), many.keywords(kwargs, name), options, immutable, id)

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.task}.{'si' if self.immutable else 's'}({', '.join(parts)})"

    def __or__(self, other: Node) -> Chain:
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
        return self.with_args(many.positional(args, self.task), many.keywords(kwargs, self.task))  # type: ignore[return-value]

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult[R_co]:
        return self.apply_async(args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> AsyncResult[R_co]:
        """sig(): sent, as delay() (so are chain(...)() and group(...)()). Unlike Celery's, whose
        sig() runs the task here: with jobs, a call that looks like sending sends."""
        return self.apply_async(args, kwargs)

    def apply_async(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                    **options: Any) -> AsyncResult[R_co]:
        """Send it as its task's apply_async would (unique locks, on_commit, eager mode included)."""
        call = CallOptions.parse(self.task, options)
        app = current()
        [result] = send(app, [self._message(app, many.positional(args, self.task), many.keywords(kwargs, self.task),
                                            call)], call.on_commit, outbox=call.outbox, using=call.using)
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


_NODES = (Step, workflow.ChainNode, workflow.GroupNode, workflow.ChordNode)


def _node(value: Any, what: str) -> Node:
    if isinstance(value, _NODES):
        return value
    raise TypeError(f"{what} must be signatures like add.s(1, 2), chains, groups or chords, not {value!r}")


def _send(node: Node, args: Iterable[Any], kwargs: dict[str, Any] | None,
          options: dict[str, Any]) -> AsyncResult | GroupResult:
    """Send a workflow: every id given, every join's list of members written (one SET each, before
    any message), then its first messages in one round trip. Its results, shaped as it is."""
    first = next(leaves(node), None)
    name = first.task if first else "group"
    args, kwargs = many.positional(args, f"a workflow starting with {name}"), many.keywords(kwargs, name)
    call = CallOptions.parse(name, options)
    node = identified(canonical(node))
    app = current()
    if app.config.eager:
        return eager.workflow(app, node, tuple(args), kwargs, call)
    launches = start(node, tuple(args), kwargs)
    messages = [build_message(app, launch.step.task, launch.step.args, launch.step.kwargs,
                              launch.step.call_options().merge(call), MessageOptions(**launch.fields(None)))
                for launch in launches]
    queues = {launch.step.id: m.queue for launch, m in zip(launches, messages, strict=True)}
    found = list(joins(node))
    # Each join's list, for its callback, on the shard of the first message: the callback looks
    # there too when it runs elsewhere (execution/chord_args.py).
    shard: int | None = app.shard_of(messages[0].queue) if messages else 0
    for join_id, where in found:
        app.brokers[shard or 0].results.set_chord_members(join_id, where)
    sent = send(app, messages, call.on_commit, outbox=call.outbox, using=call.using)
    if isinstance(node, workflow.GroupNode) and all(isinstance(m, Step) for m in node.members):
        return GroupResult(sent, node.id)  # a unique member's result may be the run that holds its lock
    if app.config.shards > 1:
        # A chain whose steps sit on several shards (handed on: redis/forwards.py) has its results on
        # them, and a step's result may be written elsewhere than its own shard (a step revoked or
        # buried before it runs marks what follows it where it was: lib/workflow_end.lua), so its
        # results are looked for on each shard; on one shard, there.
        # A step yet to be sent to a spread queue (QUEUE_SPREAD) may land on any of its parts' shards.
        spread = {app.shard_of(queue) if len(app.shards.parts(queue)) == 1 else -1
                  for queue in (queues.get(step.id) or queue_of(app, step) for step in leaves(node))}
        shard = spread.pop() if len(spread) == 1 and -1 not in spread else None
    return tree(node, lambda step: AsyncResult(step.id or "", step.task, shard=shard))


# -- chain -------------------------------------------------------------------------------------------

class Chain(workflow.ChainNode):
    """Nodes run one after the other, each given the result of the one before (unless immutable). A
    group followed by more steps is a chord (Celery's): the next step is given the list."""

    def __init__(self, steps: Iterable[Node]) -> None:
        steps = tuple(_node(step, "chain() steps")
                      for step in many.items(steps, "steps", "chain()", "signatures, chains, groups or chords"))
        if not steps:
            raise ValueError("chain() needs at least one signature")
        super().__init__(steps)

    def __repr__(self) -> str:
        return " | ".join(map(repr, self.steps))

    def __or__(self, other: Node) -> Chain:
        return chain(self, other)

    def delay(self, *args: Any, **kwargs: Any) -> Any:
        return self.apply_async(args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Sent, as delay() (Celery's chain(...)())."""
        return self.delay(*args, **kwargs)

    def apply_async(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None, **options: Any) -> Any:
        """Send the first step (with `args` put in front of its own); returns the last node's result,
        whose .parent is the one before, and so on: an AsyncResult, or, for a chain ending in a
        group, that group's GroupResult (its get() is the list)."""
        return _send(self, args, kwargs, options)


def chain(*steps: Any) -> Chain:
    """chain(a.s(), b.s()), or chain([a.s(), b.s()]) as Celery takes it too."""
    if len(steps) == 1 and not isinstance(steps[0], _NODES):
        steps = tuple(many.items(steps[0], "steps", "chain()", "signatures like add.s(1, 2), chains, groups or chords"))
    return Chain(steps)


# -- group and chord ---------------------------------------------------------------------------------

class Group(workflow.GroupNode):
    """Members run in parallel; their results, in order, in a GroupResult. A member may be a chain
    (its result is its last step's), a chord, or a group (unrolled into this one, as in Celery)."""

    def __init__(self, members: Iterable[Node], id: str | None = None) -> None:
        found = many.items(members, "members", "group()", "signatures like add.s(1, 2), chains, groups or chords")
        super().__init__(tuple(_node(m, "group() members") for m in found), id)

    def __repr__(self) -> str:
        return f"group({', '.join(map(repr, self.members))})"

    def __or__(self, other: Node) -> Chord:
        return Chord(self, other)

    def delay(self, *args: Any, **kwargs: Any) -> GroupResult:
        return self.apply_async(args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> GroupResult:
        """Sent, as delay() (Celery's group(...)())."""
        return self.delay(*args, **kwargs)

    def apply_async(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
                    **options: Any) -> GroupResult:
        """Send every member in one round trip (`args` put in front of each one's first steps)."""
        if not self.members:
            return GroupResult([])
        result = _send(self, args, kwargs, options)
        assert isinstance(result, GroupResult)
        return result


def group(*members: Any) -> Group:
    """group(a.s(), b.s()) or group(add.s(i, i) for i in range(10)); members may be chains, groups
    and chords too."""
    if len(members) == 1 and not isinstance(members[0], _NODES):
        members = tuple(many.items(members[0], "members", "group()",
                                   "signatures like add.s(1, 2), chains, groups or chords"))
    return Group(members)


class Chord(workflow.ChordNode):
    """A group, and a callback that runs once with all its members' results. Members may be chains,
    groups and chords; so may the callback."""

    def __init__(self, header: Group, body: Node) -> None:
        if not isinstance(header, workflow.GroupNode):
            raise TypeError(f"Chord takes a group as its header (chord() takes a list too), not {header!r:.80}")
        if not header.members:
            raise ValueError("chord() needs at least one member (an empty group would never call back)")
        super().__init__(header.members, nonempty_callback(_node(body, "a chord's callback")))

    def __repr__(self) -> str:
        return f"chord({list(self.header)!r}, {self.body!r})"

    def delay(self, *args: Any, **kwargs: Any) -> Any:
        return self.apply_async(args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Sent, as delay() (Celery's chord(...)())."""
        return self.delay(*args, **kwargs)

    def apply_async(self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None, **options: Any) -> Any:
        """Send the members; the callback follows when the last one ends. Returns the callback's
        result, whose .parent is the GroupResult of the members."""
        return _send(self, args, kwargs, options)


def chord(header: Group | Iterable[Node], body: Node | None = None) -> Any:
    """chord(members, callback).delay() — or chord(members)(callback), which sends at once, as in
    Celery."""
    group_ = header if isinstance(header, Group) else Group(many.items(
        header, "header", "chord()", "signatures like add.s(1, 2), chains, groups or chords (its members)"))
    if body is None:
        return lambda callback: Chord(group_, callback).apply_async()
    return Chord(group_, body)
