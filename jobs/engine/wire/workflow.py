"""Workflows as they travel: the nodes of a workflow (a step, a chain, a group, a chord), and what a
step's message says follows it.

A step's message carries its continuation, never the whole tree: `chain`, the rest of its chain, and
`chord`, the join its branch ends in (a ChordSpec: the chord's id, its size, its callback, the key
this branch adds to the chord's set, and the join the chord itself ends in). The worker that settles
a step reads them from here (execution/followup.py) and starts what follows with start() below, whose
messages it builds as any other (build.py): it never needs the client's classes (canvas.py), which
are built on these.

A workflow is sent in its canonical form (canonical.py), in which the only nodes that are not first
in their chain are plain steps, except the last: so a continuation is just (the rest of one chain,
one join), each join pointing at the next one out. A group whose results something waits for (a
chain ending in a group, inside a group or a chord) is joined like a chord without a callback: the
ack that completes it counts it in the join around it (lib/ack.lua `workflow`).

The wire form of a step, kept as it was: {"t": task name, "id": its task id, "a": args, "k":
kwargs, "o": options (options.CallOptions, as given), "i": true if immutable}; a chain is {"s":
[nodes]}, a group {"g": [nodes], "id": its id}, a chord {"h": [nodes], "b": node, "id": its id}.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .options import NO_OPTIONS, CallOptions

#: The options that hold steps of their own (link, link_error): written and read as steps.
CALLBACKS = ("link", "link_error")


@dataclass(frozen=True, slots=True)
class Step:
    """One call of a task, described but not sent: the task is named, not held, so a step can name a
    task only the workers import, and travel inside a message."""

    task: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    options: CallOptions = NO_OPTIONS
    immutable: bool = False
    id: str | None = None

    def with_args(self, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> Step:
        """`args` put in front of its own, `kwargs` merged (an immutable step keeps its own)."""
        if self.immutable or (not args and not kwargs):
            return self
        return dataclasses.replace(self, args=(*args, *self.args), kwargs={**self.kwargs, **(kwargs or {})})

    def call_options(self) -> CallOptions:
        """Its options for build.message: its own, and its task id."""
        return dataclasses.replace(self.options, task_id=self.id) if self.id else self.options

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"t": self.task, "id": self.id}
        if self.args:
            doc["a"] = list(self.args)
        if self.kwargs:
            doc["k"] = self.kwargs
        options = self.options.given()
        for key in CALLBACKS:
            if key in options:
                options[key] = [step.to_dict() for step in options[key]]
        if options:
            doc["o"] = options
        if self.immutable:
            doc["i"] = True
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Step:
        given = dict(doc.get("o") or {})
        for key in CALLBACKS:
            if key in given:
                given[key] = [cls.from_dict(d) for d in given[key]]
        options = CallOptions.parse(doc["t"], given, signature=True)
        return cls(doc["t"], tuple(doc.get("a", ())), dict(doc.get("k") or {}), options, bool(doc.get("i", False)),
                   doc.get("id"))


@dataclass(frozen=True, slots=True)
class ChainNode:
    """Nodes one after the other, each given the result of the one before (unless immutable)."""

    steps: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class GroupNode:
    """Nodes in parallel; its result is the list of theirs. Its id names it when something waits
    for that list (a join without a callback) and in its GroupResult."""

    members: tuple[Node, ...]
    id: str | None = None


@dataclass(frozen=True, slots=True)
class ChordNode:
    """A group, then a callback given the list of its results; its result is the callback's."""

    header: tuple[Node, ...]
    body: Node
    id: str | None = None


Node = Step | ChainNode | GroupNode | ChordNode


def to_wire(node: Node) -> dict[str, Any]:
    if isinstance(node, Step):
        return node.to_dict()
    if isinstance(node, ChainNode):
        return {"s": [to_wire(n) for n in node.steps]}
    if isinstance(node, GroupNode):
        return {"g": [to_wire(n) for n in node.members], "id": node.id}
    return {"h": [to_wire(n) for n in node.header], "b": to_wire(node.body), "id": node.id}


def from_wire(doc: dict[str, Any]) -> Node:
    if "t" in doc:
        return Step.from_dict(doc)
    if "s" in doc:
        return ChainNode(tuple(from_wire(d) for d in doc["s"]))
    if "g" in doc:
        return GroupNode(tuple(from_wire(d) for d in doc["g"]), doc.get("id"))
    return ChordNode(tuple(from_wire(d) for d in doc["h"]), from_wire(doc["b"]), doc.get("id"))


@dataclass(frozen=True, slots=True)
class ChordSpec:
    """What a branch's message says of the join it ends in: once all `size` branches ended, the
    callback starts (given the list of their results), or, without one (a group something waits
    for), the join counts in `after`. `member` is this branch's key in the set (its final task's id;
    absent: the message's own id, as for a plain chord member); `after` is what the chord ends in."""

    id: str
    size: int
    callback: Node | None
    member: str | None = None
    after: ChordSpec | None = None

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": self.id, "n": self.size}
        if self.callback is not None:
            doc["cb"] = to_wire(self.callback)
        if self.member is not None:
            doc["m"] = self.member
        if self.after is not None:
            doc["up"] = self.after.to_dict()
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ChordSpec:
        callback = from_wire(doc["cb"]) if "cb" in doc else None
        after = cls.from_dict(doc["up"]) if "up" in doc else None
        return cls(doc["id"], int(doc["n"]), callback, doc.get("m"), after)


def carried(nodes: list[Node], chord: ChordSpec | None) -> Iterator[Step]:
    """Every step of these nodes, of what follows them (link, link_error), and of the callbacks of
    `chord` and of the joins it ends in: all a message's workflow carries. Walked with a stack of its
    own, not by recursion: it looks for steps nested too deeply (message.Message._check_nesting)."""
    todo: list[Any] = list(nodes)
    while chord is not None:
        if chord.callback is not None:
            todo.append(chord.callback)
        chord = chord.after
    while todo:
        node = todo.pop()
        if isinstance(node, Step):
            yield node
            todo.extend(node.options.link or ())
            todo.extend(node.options.link_error or ())
        elif isinstance(node, ChainNode):
            todo.extend(node.steps)
        elif isinstance(node, GroupNode):
            todo.extend(node.members)
        elif isinstance(node, ChordNode):
            todo.extend(node.header)
            todo.append(node.body)


# -- reading a workflow, and the messages that start it ------------------------------------------

def last(node: Node) -> Step | GroupNode:
    """The node whose result is `node`'s: a step, or a group (its list)."""
    if isinstance(node, ChainNode):
        return last(node.steps[-1])
    if isinstance(node, ChordNode):
        return last(node.body)
    return node


def final(node: Node) -> str:
    """The id of what holds `node`'s result (a group's: its own id, for its join)."""
    return last(node).id or ""


def leaves(node: Node) -> Iterator[Step]:
    """Every step of `node`, in order."""
    if isinstance(node, Step):
        yield node
    elif isinstance(node, ChordNode):
        for one in (*node.header, node.body):
            yield from leaves(one)
    else:
        for one in node.steps if isinstance(node, ChainNode) else node.members:
            yield from leaves(one)


def gathered(node: Node) -> str | list[Any]:
    """Where `node`'s result is read from: the id of the task that holds it, or, for a group, a
    list of where each member's is (a chord's callback reads them all in one MGET)."""
    end = last(node)
    return [gathered(m) for m in end.members] if isinstance(end, GroupNode) else end.id or ""


def joins(node: Node, joined: bool = False) -> Iterator[tuple[str, list[Any]]]:
    """(id, where its members' results are) of every join in `node`: each chord, and each group whose
    results something waits for (`joined`). Written once when the workflow is sent, not in every
    member's message: a chord of n members would otherwise carry n² ids."""
    if isinstance(node, ChainNode):
        yield from joins(node.steps[-1], joined)  # the ones before it are steps (canonical form)
    elif isinstance(node, GroupNode):
        if joined:
            yield node.id or "", [gathered(m) for m in node.members]
        for member in node.members:
            yield from joins(member, joined)
    elif isinstance(node, ChordNode):
        yield node.id or "", [gathered(m) for m in node.header]
        for member in node.header:
            yield from joins(member, True)
        yield from joins(node.body, joined)


@dataclass(frozen=True, slots=True)
class Launch:
    """One message that starts a node: its step (arguments included), the rest of its chain, the
    join its branch ends in, and, for a step given a chord's results, that chord's id."""

    step: Step
    chain: tuple[Node, ...] = ()
    chord: ChordSpec | None = None
    chord_of: str | None = None

    def fields(self, parent: str | None) -> dict[str, Any]:
        """Its workflow options (message.MessageOptions), sent by `parent`."""
        out: dict[str, Any] = {"chain": self.chain, "chord": self.chord, "parent": parent}
        if self.chord_of is not None:
            out.update(chord_of=self.chord_of, chord_pass=not self.step.immutable)
        return out


def start(node: Node, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None,
          then: ChordSpec | None = None, chord_of: str | None = None) -> list[Launch]:
    """The messages that start `node` (canonical, identified): `args` in front of its first steps'
    own (or, with `chord_of`, the results of that chord, read when they start), ending in `then`."""
    if isinstance(node, Step):
        return [Launch(node if chord_of else node.with_args(args, kwargs), (), then, chord_of)]
    if isinstance(node, ChainNode):
        first, rest = node.steps[0], node.steps[1:]
        assert isinstance(first, Step), "not in canonical form"
        return [Launch(first if chord_of else first.with_args(args, kwargs), rest, then, chord_of)]
    if isinstance(node, GroupNode):
        join = None if then is None else ChordSpec(node.id or "", len(node.members), None, after=then)
        members = node.members
    else:
        join, members = ChordSpec(node.id or "", len(node.header), node.body, after=then), node.header
    return [launch for member in members
            for launch in start(member, args, kwargs, join and dataclasses.replace(join, member=final(member)),
                                chord_of)]
