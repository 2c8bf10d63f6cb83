"""A workflow's canonical form (canonical.py) and its wire form (workflow.py), without Redis."""

from jobs.engine.wire.canonical import canonical, identified
from jobs.engine.wire.workflow import ChainNode, ChordNode, GroupNode, Step, from_wire, gathered, joins, to_wire


def s(name):
    return Step(name)


def test_a_group_followed_by_steps_becomes_a_chord_of_the_rest():
    node = canonical(ChainNode((s("a"), GroupNode((s("b"), s("c"))), s("d"), s("e"))))
    assert node == ChainNode((s("a"), ChordNode((s("b"), s("c")), ChainNode((s("d"), s("e"))))))


def test_what_follows_a_chord_moves_into_its_callback_and_chains_flatten():
    node = canonical(ChainNode((ChainNode((s("a"), ChordNode((s("b"),), s("c")))), s("d"))))
    assert node == ChainNode((s("a"), ChordNode((s("b"),), ChainNode((s("c"), s("d"))))))


def test_a_group_in_a_group_is_unrolled_as_in_celery():
    nested = GroupNode((s("a"), GroupNode((s("b"), ChainNode((s("c"),))))))
    assert canonical(nested) == GroupNode((s("a"), s("b"), s("c")))


def test_joins_name_each_chord_and_each_group_something_waits_for():
    node = identified(canonical(ChordNode((ChainNode((s("a"), GroupNode((s("b"), s("c"))))), s("d")), s("e"))))
    assert isinstance(node, ChordNode)
    inner = node.header[0].steps[-1]
    b, c = inner.members
    d = node.header[1]
    assert list(joins(node)) == [(node.id, [[b.id, c.id], d.id]), (inner.id, [b.id, c.id])]
    assert gathered(node) == node.body.id
    assert list(joins(GroupNode((s("a"), ChainNode((s("b"), GroupNode((s("c"),)))))))) == []  # nothing waits for them


def test_the_wire_form_round_trips():
    group = GroupNode((ChainNode((s("b"), s("c"))), ChordNode((s("d"),), s("e"))))
    node = identified(canonical(ChainNode((s("a"), group, s("f")))))
    assert from_wire(to_wire(node)) == node
