"""The shape a workflow is sent in. Before it is sent, a workflow (workflow.py's nodes) is put in a
canonical form (canonical()), Celery's semantics made explicit: chains inside chains are flattened, a
group inside a group is unrolled into it (as Celery's group does), a group followed by more steps
becomes a chord whose callback is the rest of the chain, and whatever follows a chord in a chain
moves into the chord's callback. An empty group that something would wait for (a chord's members or
callback, a group followed by more steps or ending a chain of several) is refused: it would never
call back. So after canonical() the only empty group left is a whole workflow that is one, which
sends nothing and whose result is [] at once. Then the only nodes that are not first in their chain
are plain steps, except the last, so a continuation is just (the rest of one chain, one join), each
join pointing at the next one out (workflow.start). Then every step, group and chord is given its id
(identified()), so that its results are readable from the moment it is sent.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

from .workflow import ChainNode, ChordNode, GroupNode, Node, Step


def canonical(node: Node) -> Node:
    """The same workflow, as its messages carry it (see the module's docstring)."""
    if isinstance(node, Step):
        return node
    # Built anew, not replaced: the client's classes (canvas.py) are these with sending added.
    if isinstance(node, GroupNode):
        return GroupNode(_unrolled(node.members), node.id)
    if isinstance(node, ChordNode):
        return ChordNode(_nonempty(_unrolled(node.header)), nonempty_callback(canonical(node.body)), node.id)
    steps = list(_flattened(node.steps))
    for i, one in enumerate(steps):
        if isinstance(one, Step):
            continue
        rest = steps[i + 1:]
        if rest and isinstance(one, GroupNode):  # Celery's implicit chord: the rest is given the list
            one = ChordNode(one.members, ChainNode(tuple(rest)))
        elif rest and isinstance(one, ChordNode):  # what follows a chord follows its callback
            one = ChordNode(one.header, ChainNode((one.body, *rest)), one.id)
        return _chain([*steps[:i], canonical(one)])
    return _chain(steps)


def _flattened(steps: tuple[Node, ...]) -> Iterator[Node]:
    for one in steps:
        if isinstance(one, ChainNode):
            yield from _flattened(one.steps)
        else:
            yield one


def _unrolled(members: tuple[Node, ...]) -> tuple[Node, ...]:
    """A group's members, a group among them unrolled into it (Celery's group does the same)."""
    out: list[Node] = []
    for member in members:
        member = canonical(member)
        out.extend(member.members if isinstance(member, GroupNode) else [member])
    return tuple(out)


def _nonempty(members: tuple[Node, ...]) -> tuple[Node, ...]:
    if not members:
        raise ValueError("a chord, or a group followed by more steps, needs at least one member "
                         "(an empty group would never call back)")
    return members


def nonempty_callback(body: Node) -> Node:
    """A chord's callback, refused if it is an empty group (unrolled: a group of empty groups is one):
    it would run nothing, so nothing would ever count the chord as ended in what waits for it (an
    outer chord, the rest of a chain), which would wait for ever; eager mode would call it done."""
    if isinstance(body, GroupNode) and not body.members:
        raise ValueError("a chord's callback is an empty group, which runs nothing and so would never let "
                         "what waits for the chord go on: give the callback at least one signature, or send "
                         "the members as a group of their own")
    return body


def _chain(steps: list[Node]) -> Node:
    if not steps:
        raise ValueError("chain() needs at least one signature")
    if isinstance(steps[-1], GroupNode) and len(steps) > 1:
        _nonempty(steps[-1].members)  # a chain's result waits for its last group's members
    return steps[0] if len(steps) == 1 else ChainNode(tuple(steps))


def identified(node: Node) -> Node:
    """With every step's task id, and every group's and chord's, given now: a workflow's results are
    readable from the moment it is sent, and its messages name what they join."""
    if isinstance(node, Step):
        return node if node.id else dataclasses.replace(node, id=str(uuid.uuid4()))
    if isinstance(node, ChainNode):
        return ChainNode(tuple(identified(n) for n in node.steps))
    if isinstance(node, GroupNode):
        return GroupNode(tuple(identified(n) for n in node.members), node.id or str(uuid.uuid4()))
    return ChordNode(tuple(identified(n) for n in node.header), identified(node.body), node.id or str(uuid.uuid4()))
