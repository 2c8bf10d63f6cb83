"""One depth limit for lists and dicts (arguments.MAX_DEPTH), the same where data enters and where
it is read (issue 31, break 8): refused at the send, naming the argument; refused by a worker for a
message written by hand; a mark in what is written about a run; a failure for a result; a record
the history's recorder cannot read is skipped, not fatal."""

import json
import re

import pytest

from jobs import chain
from jobs.engine.errors import DecodeError, EncodeError
from jobs.engine.ops.records import records_of
from jobs.engine.setup.registry import Registry
from jobs.engine.wire.arguments import MAX_DEPTH, nesting_problem
from jobs.engine.wire.message import Message, decode
from jobs.engine.wire.outcome import FAILURE, SUCCESS, Outcome, describe_exception
from jobs.engine.wire.outcome import encode as encode_result
from jobs.engine.wire.redact import CIRCULAR, DEEP, Redactor
from tests.testapp import tasks

JSON = ("json",)


def nest(depth, leaf=None):
    value = [] if leaf is None else [leaf]
    for _ in range(depth - 1):
        value = [value]
    return value


def circular():
    loop = []
    loop.append(loop)
    return loop


def test_nesting_is_measured_without_recursion_and_names_the_place():
    assert nesting_problem(nest(MAX_DEPTH), "x") is None
    assert "x is nested deeper than 100 levels" in nesting_problem(nest(MAX_DEPTH + 1), "x")
    assert "nested deeper" in nesting_problem(nest(100_000), "x")  # far past Python's recursion limit
    shared = [1]
    assert nesting_problem([shared, shared, (shared,)], "x") is None  # the same list twice is not a circle
    inner = {"k": [0, 1]}
    inner["k"].append(inner)
    assert nesting_problem({"a": inner}, "kwargs['a']") == (
        "kwargs['a'] contains itself (a circular reference at kwargs['a']['a']['k'][2]): JSON cannot carry it; "
        "pass data that does not refer to itself")
    assert nesting_problem("text", "x") is None and nesting_problem(nest(3), "x", limit=2) is not None


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 600, 1200, 50_000])
def test_a_message_nested_too_deeply_is_refused_naming_its_argument(depth):
    for args, kwargs, where in (((1, nest(depth)), {}, r"args\[1\]"), ((), {"rows": nest(depth)}, r"kwargs\['rows'\]")):
        with pytest.raises(EncodeError, match=rf"^t\.x: {where} is nested deeper than {MAX_DEPTH} levels") as caught:
            Message(id="m", task="t.x", args=args, kwargs=kwargs).encode()
        assert "pickle" not in str(caught.value)
    wire = Message(id="m", task="t.x", args=(nest(MAX_DEPTH),), kwargs={"a": nest(MAX_DEPTH)}).encode()
    assert decode(wire, "q", JSON).args == (nest(MAX_DEPTH),)


def test_an_argument_that_contains_itself_is_named_not_a_recursion_error():
    with pytest.raises(EncodeError, match=r"t\.x: args\[0\] contains itself \(a circular reference at "
                                          r"args\[0\]\[0\]\)"):
        Message(id="m", task="t.x", args=(circular(),)).encode()
    loop = {}
    loop["me"] = loop
    with pytest.raises(EncodeError, match=r"kwargs\['d'\] contains itself"):
        Message(id="m", task="t.x", kwargs={"d": loop}).encode()


def test_pickle_carries_a_circle_but_not_a_depth_it_cannot_pickle():
    wire = Message(id="m", task="t.x", args=(circular(),), content_type="pickle").encode()  # looked into once each
    back = decode(wire, "q", ("json", "pickle")).args[0]
    assert back[0] is back
    with pytest.raises(EncodeError, match="nested too deeply to be pickled"):
        Message(id="m", task="t.x", args=(nest(50_000),), content_type="pickle").encode()


def test_a_workflow_step_nested_too_deeply_is_refused_when_the_workflow_is_sent(r):
    with pytest.raises(EncodeError, match=r"its workflow's step tests\.testapp\.tasks\.add: args\[0\] is nested "
                                          rf"deeper than {MAX_DEPTH} levels"):
        chain(tasks.add.s(1, 1), tasks.add.si(nest(MAX_DEPTH + 1), [])).delay()
    assert r.dbsize() == 0


def hand_written(body):
    return f"{int(1e15):013x}|0|by-hand|t.x|{body}"


def test_a_worker_refuses_a_message_nested_too_deeply_with_a_reason():
    with pytest.raises(DecodeError, match=rf"message by-hand \(t\.x\): args\[0\] is nested deeper than {MAX_DEPTH}"):
        decode(hand_written(json.dumps([nest(MAX_DEPTH + 1)])), "q", JSON)
    with pytest.raises(DecodeError, match=r"message by-hand \(t\.x\) is nested too deeply to be read"):
        decode(hand_written("[" * 5000 + "]" * 5000), "q", JSON)
    with pytest.raises(DecodeError, match="broken envelope"):
        decode(hand_written('{"a": [], "k": [' + "[]," * 200 + "[]]}"), "q", JSON)  # keyword arguments not a dict


def test_what_is_written_about_a_run_marks_what_is_too_deep_or_inside_itself():
    redactor = Redactor(("password",), 1_000_000)
    loop = {"password": "hunter2"}
    loop["again"] = loop
    loop["twice"] = loop
    args, kwargs, complete = redactor.stored(None, (nest(MAX_DEPTH + 1, "leaf"), loop), {"k": nest(5000)})
    assert args[0] == nest(MAX_DEPTH, DEEP) and not complete
    assert args[1] == {"password": "***", "again": CIRCULAR, "twice": CIRCULAR}
    assert json.dumps(kwargs).count("[") == MAX_DEPTH and DEEP in json.dumps(kwargs)
    assert redactor.stored(None, (nest(MAX_DEPTH),), {}) == ([nest(MAX_DEPTH)], {}, True)


def test_a_result_nested_too_deeply_or_inside_itself_fails_its_task_with_the_reason():
    for value, message in ((nest(MAX_DEPTH + 1), f"the value it returned is nested deeper than {MAX_DEPTH} levels"),
                           (nest(5000), "nested deeper than"),
                           (circular(), r"the value it returned contains itself \(a circular reference at "
                                        r"result\[0\]\)")):
        doc = json.loads(encode_result(Outcome(SUCCESS, value), "t.x", "json", "w"))
        assert doc["status"] == FAILURE and "result" not in doc
        assert doc["exception"]["name"] == "EncodeError"
        assert re.search(message, doc["exception"]["message"])
    assert json.loads(encode_result(Outcome(SUCCESS, nest(MAX_DEPTH)), "t.x", "json", "w"))["result"] == nest(MAX_DEPTH)


def test_an_exception_whose_arguments_are_too_deep_keeps_them_as_text():
    info = describe_exception(ValueError(nest(MAX_DEPTH + 1), circular(), nest(5000), "plain"))
    assert info["args"][0] == str(nest(MAX_DEPTH + 1)) and info["args"][1] == "[[...]]"
    assert info["args"][2] == "<list>" and info["args"][3] == "plain"
    json.dumps(info)


def test_an_unreadable_record_is_skipped_and_the_others_are_read(caplog):
    good = json.dumps({"status": "SUCCESS", "id": "good", "task": "t.x", "result": 1, "args": [], "kwargs": {}})
    entries = [(b"1-0", b"r", b'{"status":"SUCCESS","id":"deep","result":' + b"[" * 5000 + b"]" * 5000 + b"}"),
               (b"2-0", b"r", good.encode()), (b"3-0", b"r", b'{"status":"SUCCESS","id":5}')]
    rows = records_of(Registry(), Redactor((), 4096), entries)
    assert [r.task_id for r in rows] == ["good"]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "nested too deeply to be read" in lines[0] and "its task id is a int" in lines[1]
