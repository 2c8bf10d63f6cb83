"""Nested workflows on real workers, as in Celery: groups in chains (an implicit chord), chains in
groups, chords in chains and in chords, three levels deep; their failures; a chord of 100 members
whose worker is killed in the middle; a revoked step ending its workflow; and all of it in eager
mode."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from jobs import ChordError, GroupResult, chain, chord, group
from jobs.engine.errors import TaskRevoked
from tests.testapp import tasks
from tests.testapp.tasks import PaymentDeclined


def _echoed(value):
    return {"args": [value], "kwargs": {}}


def test_a_group_in_a_chain_gives_the_next_step_the_list(start_worker, r):
    start_worker("-c", "2")
    result = chain(tasks.add.s(1, 1), group(tasks.add.s(10), tasks.add.s(20)), tasks.collect.s("calls")).delay()
    assert result.get(timeout=20) == 34
    assert [json.loads(v) for v in r.lrange("calls", 0, -1)] == [[12, 22]]
    assert isinstance(result.parent, GroupResult) and result.parent.get(timeout=1) == [12, 22]
    assert result.parent.parent.get(timeout=1) == 2
    two = chain(tasks.add.s(1, 1), group(tasks.add.s(1), tasks.add.s(2)),
                group(tasks.collect.s("g1"), chain(tasks.collect.s("g2"), tasks.add.s(10)))).delay()
    assert two.get(timeout=20) == [7, 17]  # a group after a group: each member is given the list
    assert json.loads(r.lpop("g1")) == json.loads(r.lpop("g2")) == [3, 4]


def test_a_chain_ending_in_a_group_returns_the_groups_results(start_worker):
    start_worker("-c", "2")
    result = chain(tasks.add.s(1, 1), group(tasks.add.s(10), tasks.add.s(20))).delay()
    assert isinstance(result, GroupResult)
    assert result.get(timeout=20) == [12, 22]
    assert result.parent.get(timeout=1) == 2


def test_a_group_of_chains_gathers_each_chains_last_result(start_worker):
    start_worker("-c", "2")
    result = group(chain(tasks.add.s(1, 1), tasks.add.s(10)), chain(tasks.add.s(2, 2), tasks.add.s(20)),
                   tasks.add.s(3, 3)).delay()
    assert result.get(timeout=20) == [12, 24, 6]
    assert result[0].parent.get(timeout=1) == 2


def test_a_chain_ending_in_a_chord_and_a_chord_in_the_middle_of_a_chain(start_worker, r):
    start_worker("-c", "2")
    ending = chain(tasks.add.s(1, 1), chord([tasks.add.s(1), tasks.add.s(2)], tasks.collect.s("calls"))).delay()
    assert ending.get(timeout=20) == 7
    middle = chain(tasks.add.s(1, 1), chord([tasks.add.s(1), tasks.add.s(2)], tasks.add.s([100])),
                   tasks.add.s([1000])).delay()
    assert middle.get(timeout=20) == [3, 4, 100, 1000]
    assert middle.parent.get(timeout=1) == [3, 4, 100] and middle.parent.parent.get(timeout=1) == [3, 4]
    assert middle.parent.parent.parent.get(timeout=1) == 2


def test_a_chords_members_may_be_chains_groups_and_chords(start_worker):
    start_worker("-c", "2")
    result = chord([
        chain(tasks.add.s(1, 1), tasks.add.s(1)),                    # 3
        group(tasks.add.s(2, 2), tasks.add.s(3, 3)),                 # unrolled into the header: 4, 6
        chain(tasks.add.s(0, 1), group(tasks.add.s(1), tasks.add.s(2))),  # a list: [2, 3]
        chord([tasks.add.s(5, 5), tasks.add.s(6, 6)], tasks.collect.s("inner")),  # 22
    ], tasks.echo.s()).delay()
    assert result.get(timeout=30) == _echoed([3, 4, 6, [2, 3], 22])
    header = result.parent
    assert isinstance(header, GroupResult) and header.get(timeout=1) == [3, 4, 6, [2, 3], 22]


def test_three_levels(start_worker, r):
    """chain(a, group(chain(b, c), chord([d, e], f)), g), and a group of those."""
    start_worker("-c", "3")
    three = chain(tasks.add.s(1, 1),
                  group(chain(tasks.add.s(1), tasks.add.s(10)), chord([tasks.add.s(2), tasks.add.s(3)],
                                                                     tasks.collect.s("calls"))),
                  tasks.echo.s())
    result = three.delay()
    assert result.get(timeout=30) == _echoed([13, 9])
    assert [json.loads(v) for v in r.lrange("calls", 0, -1)] == [[4, 5]]
    members = result.parent
    assert members[0].get(timeout=1) == 13 and members[0].parent.get(timeout=1) == 3
    assert members[1].get(timeout=1) == 9 and members[1].parent.get(timeout=1) == [4, 5]
    assert members.parent.get(timeout=1) == 2
    deeper = group(three, chain(tasks.add.s(0, 0), group(tasks.add.s(7), chain(tasks.add.s(1), group(
        tasks.add.s(1), tasks.add.s(2)))))).delay()
    assert deeper.get(timeout=60) == [_echoed([13, 9]), [7, [2, 3]]]


def test_a_failure_inside_nesting_fails_what_follows(start_worker, r):
    start_worker("-c", "2")
    result = chain(tasks.add.s(1, 1),
                   group(chain(tasks.fail.s(), tasks.record.s("after")), tasks.add.s(5)),
                   tasks.collect.s("calls"), tasks.add.s([1])).delay()
    with pytest.raises(ChordError, match=r"ended FAILURE: PaymentDeclined: 2; the callback did not run"):
        result.get(timeout=20)
    assert result.parent.failed()  # the callback: a ChordError, not run
    members = result.parent.parent
    with pytest.raises(PaymentDeclined):
        members[0].get(timeout=1)  # the step after the failed one: its failure
    assert "not run: step tests.testapp.tasks.fail" in members[0].traceback
    assert members[1].get(timeout=1) == 7
    assert r.llen("calls") == 0 and r.llen("after") == 0

    ending = chain(tasks.add.s(1, 1), group(tasks.fail.s(), tasks.add.s(1))).delay()
    with pytest.raises(PaymentDeclined):
        ending.get(timeout=20)
    nested = group(chain(tasks.add.s(1, 1), group(tasks.fail.s(), tasks.add.s(1))), tasks.add.s(1, 1))
    outer = chord([nested], tasks.collect.s("calls")).delay()
    with pytest.raises(ChordError, match=r"member tests.testapp.tasks.fail\["):
        outer.get(timeout=20)


def test_a_revoked_step_ends_its_workflow_visibly(start_worker, r):
    """Revoked before it runs, a step is marked REVOKED where it is taken (lua/fetch.lua), and so is
    what follows it: the rest of its chain, and the callback of every join it leads to."""
    start_worker("-c", "2")
    result = chain(tasks.block.s("gate"), tasks.add.s("!"),
                   group(tasks.add.s("a"), chain(tasks.add.s("b"), tasks.add.s("c"))),
                   tasks.collect.s("calls"), tasks.add.s(["end"])).delay()
    members = result.parent.parent
    revoked = members.parent
    revoked.revoke()
    r.rpush("release:gate", "go")
    with pytest.raises(TaskRevoked, match=r"a step before it, tests.testapp.tasks.add\[.*\], was not run \(revoked\)"):
        result.get(timeout=20)
    assert revoked.status == "REVOKED" and members.parent.parent.get(timeout=1) == "gate"
    assert [m.status for m in members.leaves()] == ["REVOKED", "REVOKED"]
    assert members[1].parent.status == "REVOKED" and result.parent.status == "REVOKED"
    assert r.llen("calls") == 0

    # A chord member revoked: the others run, the callback and what follows it are marked.
    held = chain(tasks.block.s("gate2"), chord([tasks.add.s("1"), tasks.add.s("2"), tasks.add.s("3")],
                                               tasks.collect.s("calls")), tasks.add.s("!")).delay()
    header = held.parent.parent
    header[1].revoke()
    r.rpush("release:gate2", "go")
    with pytest.raises(TaskRevoked, match="was not run"):
        held.get(timeout=20)
    assert header[0].get(timeout=10) == "gate21" and header[2].get(timeout=10) == "gate23"
    assert header[1].status == "REVOKED" and held.parent.status == "REVOKED"
    assert r.llen("calls") == 0


def test_a_chord_of_100_survives_its_worker_killed_in_the_middle(start_worker, r):
    """100 branches, each a chain (block, then echo), their worker killed with kill -9 while two
    run; the callback, a chain of its own, runs exactly once, with all 100 results."""
    first = start_worker("-c", "2", settings={"LEASE_SECONDS": 2})
    names = [f"m{i}" for i in range(100)]
    result = chain(chord([chain(tasks.block.s(n), tasks.add.s("!")) for n in names], tasks.collect.s("calls")),
                   tasks.add.s(1000)).delay()
    started = [r.blpop([f"started:{n}" for n in names], timeout=10) for _ in range(2)]
    assert all(started)
    first.cleanup()  # kill -9 of the worker and its children: a lost host
    for name in names:
        r.rpush(f"release:{name}", *(["go"] * 3))  # enough for every delivery
    start_worker("-c", "4", settings={"LEASE_SECONDS": 2})
    assert result.get(timeout=90) == 1100
    calls = [json.loads(v) for v in r.lrange("calls", 0, -1)]
    assert calls == [[f"{n}!" for n in names]]  # once, with every branch's result, in order
    assert sum(r.llen(f"deliveries:{n}") > 1 for n in names) >= 1  # the killed ones ran again


def test_nested_workflows_in_eager_mode(r):
    with override_settings(JOBS={"EAGER": True}):
        assert chain(tasks.add.s(1, 1), group(tasks.add.s(10), tasks.add.s(20)),
                     tasks.collect.s("calls")).delay().get() == 34
        ending = chain(tasks.add.s(1, 1), group(tasks.add.s(10), tasks.add.s(20))).delay()
        assert isinstance(ending, GroupResult) and ending.get() == [12, 22] and ending.parent.get() == 2
        assert group(chain(tasks.add.s(1, 1), tasks.add.s(10)), tasks.add.s(3, 3)).delay().get() == [12, 6]
        three = chain(tasks.add.s(1, 1), group(chain(tasks.add.s(1), tasks.add.s(10)),
                                               chord([tasks.add.s(2), tasks.add.s(3)], tasks.collect.s("calls"))),
                      tasks.echo.s()).delay()
        assert three.get() == _echoed([13, 9])
        header = chord([chain(tasks.add.s(0, 1), group(tasks.add.s(1), tasks.add.s(2))),
                        group(tasks.add.s(2, 2), tasks.add.s(3, 3))], tasks.echo.s()).delay()
        assert header.get() == _echoed([[2, 3], 4, 6])
        failed = chain(tasks.add.s(1, 1), group(chain(tasks.fail.s(), tasks.add.s(1)), tasks.add.s(5)),
                       tasks.collect.s("calls"), tasks.add.s([1])).delay()
        assert failed.failed() and isinstance(failed.result, ChordError)
        assert failed.parent.failed() and failed.parent.parent[0].failed()
        assert r.llen("calls") == 2  # the two successful collects above, not the failed one


def test_nested_messages_do_not_carry_every_members_id(r):
    """A chord of 300 chains in a chain: each member's message carries its own chain and its join,
    not the other members; the members' list is written once."""
    chain(chord([chain(tasks.add.s(i, i), tasks.add.s(1)) for i in range(300)], tasks.collect.s("calls")),
          tasks.add.s(1)).delay()
    wires = r.zrange("{jobs}:queue:default", 0, -1)
    assert len(wires) == 300 and max(len(w) for w in wires) < 1500
    [members] = [k for k in r.keys("{jobs}:chord:*:of")]
    assert len(json.loads(r.get(members))) == 300


# -- empty groups: refused wherever something would wait for them, the same in both modes ---------------

def _issues_workflow():
    """issue 31: eager mode returned {'got': [[], 2]}; on workers the outer callback never ran."""
    return chord([chord([tasks.add.s(1, 0)], group([])), tasks.add.s(2, 0)], tasks.collect.s("outer"))


EMPTY_REFUSED = [
    ("a chord whose callback is an empty group, in a chord (the issue's)", _issues_workflow),
    ("a chord whose callback is an empty group", lambda: chord([tasks.add.s(1, 1)], group([]))),
    ("... of empty groups", lambda: chord([tasks.add.s(1, 1)], group(group([]), group([])))),
    ("... in a chain", lambda: chain(tasks.add.s(1, 1), chord([tasks.add.s(1)], group([])), tasks.add.s(1))),
    ("... in a group", lambda: group(chord([tasks.add.s(1, 1)], group([])), tasks.add.s(1, 1))),
    ("an empty chord", lambda: chord([], tasks.add.s(1))),
    ("a chord of empty groups", lambda: chord([group([]), group([])], tasks.add.s(1))),
    ("an empty group followed by a step", lambda: chain(tasks.add.s(1, 1), group([]), tasks.add.s(2))),
    ("a chain ending in an empty group", lambda: chain(tasks.add.s(1, 1), group([]))),
    ("... as a chord's member", lambda: chord([chain(tasks.add.s(1, 1), group([])), tasks.add.s(1, 1)],
                                               tasks.collect.s("calls"))),
]


@pytest.mark.parametrize("eager", [False, True], ids=["workers", "eager"])
def test_an_empty_group_that_something_would_wait_for_is_refused_in_both_modes(start_worker, r, eager):
    start_worker("-c", "2")
    with override_settings(JOBS={"EAGER": eager}):
        for what, build in EMPTY_REFUSED:
            with pytest.raises(ValueError, match=r"(an empty group|at least one member)") as refused:
                build().delay()
            assert "would never" in str(refused.value), what
        assert r.zcard("{jobs}:queue:default") == 0 and r.llen("outer") == 0 and r.llen("calls") == 0  # nothing sent
        # Where nothing waits for it, an empty group is nothing: [] at once, or unrolled away.
        assert group([]).delay().get(timeout=10) == []
        assert chain(group([])).delay().get(timeout=10) == []
        assert group(group([]), tasks.add.s(1, 1)).delay().get(timeout=10) == [2]
        assert chord([group([]), tasks.add.s(1, 1)], tasks.collect.s("calls")).delay().get(timeout=10) == 2
        assert chain(tasks.add.s(1, 1), group(group([]), tasks.add.s(1))).delay().get(timeout=10) == [3]


def _spec(rng, depth=0):
    """A random workflow, as data: empty groups and chords anywhere, three levels at most."""
    kinds = ["step", "step", "chain", "group", "chord"] if depth < 3 else ["step"]
    kind = rng.choice(kinds[2:] if depth == 0 else kinds)
    if kind == "step":
        return ("step", rng.randrange(10))
    size = rng.choice([0, 1, 1, 2, 3]) if kind != "chain" else rng.choice([1, 2, 3])
    members = [_spec(rng, depth + 1) for _ in range(size)]
    if kind == "chord":
        return ("chord", members, _spec(rng, depth + 1) if rng.random() < 0.7 else ("group", []))
    return (kind, members)


def _build(spec):
    kind = spec[0]
    if kind == "step":
        return tasks.echo.s(spec[1])
    members = [_build(one) for one in spec[1]]
    if kind == "chain":
        return chain(*members)
    if kind == "group":
        return group(members)
    return chord(members, _build(spec[2]))


def _sent(spec):
    """The workflow sent: its result, or what refused it."""
    try:
        return _build(spec).delay()
    except ValueError as exc:
        return ("refused", str(exc))


def test_random_nested_workflows_with_empty_groups_agree_in_eager_mode_and_on_workers(start_worker):
    """60 random workflows of echo steps, groups, chains and chords, empty groups and chords among
    them: each is refused the same way in both modes, or gives the same result in both."""
    import random

    rng = random.Random(31)
    specs = [_spec(rng) for _ in range(60)]
    with override_settings(JOBS={"EAGER": True}):
        eager = [_sent(spec) for spec in specs]
        eager = [one if isinstance(one, tuple) else one.get() for one in eager]
    start_worker("-c", "2")
    sent = [_sent(spec) for spec in specs]
    on_workers = [one if isinstance(one, tuple) else one.get(timeout=30) for one in sent]
    for spec, here, there in zip(specs, eager, on_workers, strict=True):
        assert here == there, spec
    refused = sum(isinstance(one, tuple) for one in eager)
    assert 10 <= refused <= 50  # both kinds were tried
