"""One or many (engine/many.py, issue 23): every public call of the engine that takes a collection
takes one item as one item, or refuses what it would take apart (a str's characters, bytes' ints, a
dict's keys) with a TypeError that names the call and what it takes; nothing is sent before."""

from __future__ import annotations

import uuid

import pytest

from jobs import AsyncResult, GroupResult, chain, chord, enqueue_many, group, send_task, signature
from jobs.engine import many
from jobs.engine.send.canvas import Chain, Chord, Group
from jobs.engine.setup import app as engine_app
from tests.testapp import tasks

#: What iterates but is one thing, or is not a collection at all.
NOT_A_LIST = ["abc", b"abc", bytearray(b"ab"), 5, None, {"a": 1}, 3.5]


def waiting(r) -> int:
    keys = engine_app.current().keys
    return sum(r.zcard(keys.queue(q)) for q in ("default", "emails")) + r.zcard(keys.scheduled)


# -- the helper ------------------------------------------------------------------------------------

def test_ids_take_one_id_as_one_and_refuse_what_they_would_take_apart():
    assert many.ids("3f1c", "task_ids", "f") == ["3f1c"]
    assert many.ids(["a", "b"], "task_ids", "f") == ["a", "b"]
    assert many.ids(("a",), "task_ids", "f") == many.ids(iter(["a"]), "task_ids", "f") == ["a"]
    assert many.ids({"a"}, "task_ids", "f") == ["a"]  # order does not matter for ids
    for bad in (b"abc", bytearray(b"ab"), 5, None, {"a": 1}, 3.5):
        with pytest.raises(TypeError, match=r"^control.revoke: task_ids takes one id \(a str\) or a list of ids, not "):
            many.ids(bad, "task_ids", "control.revoke")
    with pytest.raises(TypeError, match=r"ids as str, and one of them is int 1$"):
        many.ids({1, 2}, "task_ids", "f")
    with pytest.raises(TypeError, match=r"one of them is bytes b'x' \(decode it"):
        many.ids(["a", b"x"], "task_ids", "f")
    with pytest.raises(TypeError, match="an empty id"):
        many.ids("", "task_ids", "f")


def test_one_takes_exactly_one_str():
    assert many.one("emails", "queue", "control.purge") == "emails"
    with pytest.raises(TypeError, match=r"control.purge: queue must be one str \(not empty\), not list \['a', 'b'\] "
                                        r"\(for several, call it once for each\)"):
        many.one(["a", "b"], "queue", "control.purge")
    for bad in (b"x", None, 5, ""):
        with pytest.raises(TypeError, match="must be one str"):
            many.one(bad, "queue", "control.purge")


def test_positional_and_keyword_arguments():
    assert many.positional(None, "t") == () and many.positional([1, 2], "t") == (1, 2)
    assert many.positional((x for x in (1, 2)), "t") == (1, 2)
    for bad in ("ab", b"ab", {"a": 1}, {1, 2}, 5):
        with pytest.raises(TypeError, match=r"^t: args takes a list or tuple of positional arguments, not "):
            many.positional(bad, "t")
    with pytest.raises(TypeError, match=r"\(one argument: \('ab',\)\)"):
        many.positional("ab", "t")
    assert many.keywords(None, "t") == {} and many.keywords({"a": 1}, "t") == {"a": 1}
    for bad in ([("a", 1)], "a", 5):
        with pytest.raises(TypeError, match=r"^t: kwargs takes a dict of keyword arguments, not "):
            many.keywords(bad, "t")
    with pytest.raises(TypeError, match="str keys"):
        many.keywords({1: 2}, "t")


# -- sending ---------------------------------------------------------------------------------------

def test_a_tasks_arguments_are_a_list_or_tuple_wherever_it_is_sent(r):
    name = "tests.testapp.tasks.echo"
    for send in (lambda a: tasks.echo.apply_async(a), lambda a: send_task(name, a), lambda a: tasks.echo.message(a),
                 lambda a: tasks.echo.s().apply_async(a), lambda a: signature(name, a),
                 lambda a: tasks.echo.s().clone(a), lambda a: chain(tasks.echo.s(), tasks.echo.s()).apply_async(a),
                 lambda a: enqueue_many([(tasks.echo, a, {})])):
        with pytest.raises(TypeError, match=r"args takes a list or tuple of positional arguments, not str 'ab'"):
            send("ab")
        with pytest.raises(TypeError, match="not dict"):
            send({"a": 1})
    with pytest.raises(TypeError, match=r"tests.testapp.tasks.echo: kwargs takes a dict .* not list"):
        tasks.echo.apply_async((), [("a", 1)])
    assert waiting(r) == 0  # nothing was sent
    assert tasks.echo.apply_async([1, 2], {"a": 3}).id and tasks.echo.apply_async(x for x in (1,)).id
    assert waiting(r) == 2


def test_enqueue_many_takes_a_list_of_calls_never_one_call_taken_apart(r):
    for bad in ("abc", b"abc", {"a": 1}, 5, None, tasks.add.s(1, 2)):
        with pytest.raises(TypeError, match=r"^enqueue_many: calls takes a list of \(task, args, kwargs\) tuples, "
                                            r"signatures or messages, not "):
            enqueue_many(bad)
    with pytest.raises(TypeError, match=r"this is one call, .*: enqueue_many\(\[\(task, args, kwargs\)\]\)"):
        enqueue_many((tasks.add, (1, 2), {}))
    assert waiting(r) == 0
    assert len(enqueue_many([(tasks.add, (1, 2), {}), tasks.add.s(3, 4)])) == 2 and waiting(r) == 2


# -- workflows -------------------------------------------------------------------------------------

def test_group_chain_and_chord_take_lists_of_signatures_not_strings(r):
    add = tasks.add
    for bad in ("abc", b"abc", {"a": add.s(1, 1)}, {1, 2}, 5):
        with pytest.raises(TypeError, match=r"^group\(\): members takes a list of signatures"):
            group(bad)
        with pytest.raises(TypeError, match=r"^group\(\): members takes a list of signatures"):
            Group(bad)
        with pytest.raises(TypeError, match=r"^chain\(\): steps takes a list of signatures"):
            Chain(bad)
        with pytest.raises(TypeError, match=r"^chord\(\): header takes a list of signatures"):
            chord(bad, add.s(1))
    with pytest.raises(TypeError, match=r"^chain\(\): steps takes a list of signatures"):
        chain("abc")
    with pytest.raises(TypeError, match="group\\(\\) members must be signatures like add.s\\(1, 2\\).*not 'a'"):
        group(["a"])
    with pytest.raises(TypeError, match="Chord takes a group as its header"):
        Chord("abc", add.s(1))
    assert waiting(r) == 0
    # The forms Celery takes: a list, a generator; chain([...]) as chain(...)
    assert chain([add.s(1, 1), add.s(2)]).steps == chain(add.s(1, 1), add.s(2)).steps
    assert len(group(add.s(i, i) for i in range(3)).members) == 3
    assert chord([add.s(1, 1), add.s(2, 2)], tasks.echo.s()).apply_async().parent is not None


# -- result handles --------------------------------------------------------------------------------

def test_result_handles_take_a_str_id_and_results_not_ids():
    for bad in (["a"], b"a", None, 5, uuid.uuid4()):
        with pytest.raises(TypeError, match=r"^AsyncResult takes one task id, a str"):
            AsyncResult(bad)
    with pytest.raises(TypeError, match=r"for several, GroupResult\(\[AsyncResult\(i\) for i in ids\]\)"):
        AsyncResult(["a", "b"])
    with pytest.raises(TypeError, match=r"GroupResult takes the results first, then the id.*Celery's GroupResult "
                                        r"takes the id first"):
        GroupResult("group-id", [AsyncResult("a")])
    with pytest.raises(TypeError, match=r"one is str 'a' \(a task id: AsyncResult\(id\)\)"):
        GroupResult(["a"])
    for bad in (b"ab", {"a": 1}, 5, None):
        with pytest.raises(TypeError, match=r"^GroupResult: results takes a list of AsyncResult"):
            GroupResult(bad)
    with pytest.raises(TypeError, match="id takes a str"):
        GroupResult([], id=5)
    made = GroupResult(AsyncResult(i) for i in ("a", "b"))
    assert [r.id for r in made] == ["a", "b"] and AsyncResult("a").id == "a"
