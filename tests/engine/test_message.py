"""The wire format and the serializers: what survives a round trip, and what is refused, by name."""

import datetime as dt
import decimal
import uuid
import zoneinfo

import pytest

from jobs.engine.errors import ConfigurationError, ContentDisallowed, DecodeError, EncodeError
from jobs.engine.setup.config import Config
from jobs.engine.wire.header import Header
from jobs.engine.wire.message import Message, decode

JSON = ("json",)


def roundtrip(*args, accept=JSON, **kwargs):
    m = Message(id="x1", task="t.echo", args=args, kwargs=kwargs, content_type=accept[0])
    back = decode(m.encode(), "default", accept)
    return back.args, back.kwargs


@pytest.mark.parametrize("value", [
    dt.datetime(2026, 7, 1, 12, 30, 15, 123456, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin")),  # back as +02:00
    dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc),
    dt.datetime(2026, 1, 1, 12, 0, 0, 1),
    dt.date(2026, 2, 28),
    dt.time(23, 59, 59, 999999),
    decimal.Decimal("12345678901234567890.000000001"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    b"\x00\xffbytes",
    {"nested": [dt.date(2020, 1, 1), {"d": decimal.Decimal("1.10")}]},
    "unicode: żółw 🐢",
])
def test_types_survive_the_json_round_trip(value):
    args, kwargs = roundtrip(value, key=value)
    assert args == (value,) and kwargs == {"key": value}
    assert type(args[0]) is type(value)
    if isinstance(value, dt.datetime):
        assert args[0].utcoffset() == value.utcoffset()


def test_an_argument_json_cannot_carry_is_named():
    with pytest.raises(EncodeError, match=r"args\[1\].*builtins\.set"):
        Message(id="x", task="t.add", args=(1, {1, 2})).encode()
    with pytest.raises(EncodeError, match=r"kwargs\['user'\]\['tags'\]\[0\].*builtins\.object"):
        Message(id="x", task="t.add", kwargs={"user": {"tags": [object()]}}).encode()


def test_a_non_string_dict_key_is_named():
    with pytest.raises(EncodeError, match=r"kwargs\['m'\] has a key \(1, 2\)"):
        Message(id="x", task="t.add", kwargs={"m": {(1, 2): "a"}}).encode()


def test_header_is_readable_without_the_envelope():
    wire = Message(id="abc", task="shop.send", args=(1,), enqueued_at=1700000000.5, deliveries=2).encode()
    h = Header(wire)
    assert (h.id, h.task, h.deliveries, h.enqueued_at) == ("abc", "shop.send", 2, 1700000000.5)


def test_a_plain_message_says_only_what_is_not_a_default():
    """Each waiting message is a member of a sorted set: every byte it saves is a byte per waiting task."""
    plain = Message(id="i", task="t.work", args=("", 0.0), enqueued_at=1.0)
    assert plain.encode() == '00000000f4240|0|i|t.work|["",0.0]'
    assert Message(id="i", task="t", enqueued_at=1.0).encode().endswith("|[]")
    full = Message(id="i", task="t", args=(1,), kwargs={"k": 2}, priority=3, retries=1).encode()
    assert full.split("|", 4)[4] == '{"p":3,"a":[1],"k":{"k":2},"r":1}'
    back = decode(full, "q", JSON)
    assert (back.args, back.kwargs, back.priority, back.retries) == ((1,), {"k": 2}, 3, 1)


def test_a_message_of_an_older_jobs_still_decodes_and_sorts_before_the_newer_ones():
    old = '0006617e31ca0cd6|1|i|t.work|{"ct":"json","p":0,"a":["",0.0],"k":{}}'
    back = decode(old, "default", JSON)
    assert (back.id, back.task, back.args, back.kwargs, back.deliveries) == ("i", "t.work", ("", 0.0), {}, 1)
    assert back.enqueued_at == 0x6617e31ca0cd6 / 1_000_000
    assert old < Message(id="i", task="t.work", enqueued_at=back.enqueued_at + 1).encode()


def test_a_uuid_id_travels_in_23_characters_and_comes_back_as_it_was_given():
    for task_id in [str(uuid.uuid4()), "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"]:
        wire = Message(id=task_id, task="t").encode()
        assert len(wire.split("|")[2]) == 23 and decode(wire, "q", JSON).id == Header(wire).id == task_id
    for task_id in ["ABCDEF00-0000-0000-0000-000000000000", "my-id", "x" * 36]:  # as they are
        assert Message(id=task_id, task="t").encode().split("|")[2] == task_id


def test_garbage_is_a_decode_error_not_a_crash():
    with pytest.raises(DecodeError, match="bad header"):
        decode(b"not a message", "default", JSON)
    with pytest.raises(DecodeError, match="broken envelope") as info:
        decode("0000000000000001|0|id9|t.x|{not json", "default", JSON)
    assert info.value.header.id == "id9"
    with pytest.raises(DecodeError, match="UTF-8"):
        decode(b"\xff\xfe", "default", JSON)


def test_pickle_is_refused_unless_accepted():
    wire = Message(id="p1", task="t.echo", args=({1, 2},), content_type="pickle").encode()
    with pytest.raises(ContentDisallowed, match="not in JOBS\\['ACCEPT_CONTENT'\\]"):
        decode(wire, "default", JSON)
    assert decode(wire, "default", ("json", "pickle")).args == ({1, 2},)


def test_pickle_as_serializer_needs_accept_content():
    with pytest.raises(ConfigurationError, match="add 'pickle' to ACCEPT_CONTENT"):
        Config(task_serializer="pickle")
    Config(task_serializer="pickle", accept_content=("json", "pickle"))


def test_json_content_is_refused_by_a_worker_that_accepts_only_pickle():
    wire = Message(id="j1", task="t.echo", args=(1,)).encode()
    with pytest.raises(ContentDisallowed):
        decode(wire, "default", ("pickle",))


@pytest.mark.parametrize("value", [
    {"$jobs": "dec", "v": "1.5"},  # shaped like our Decimal tag
    {"$jobs": "b", "v": "not base64!"},  # like our bytes tag, undecodable as one
    {"$jobs": "esc", "v": [["a", 1]]},  # like the escape itself
    {"outer": {"$jobs": "dt", "v": "2026-01-01T00:00:00"}, "when": dt.date(2026, 1, 1)},  # beside real tags
    [{"$jobs": 1, "other": {"$jobs": "uuid", "v": "x"}}],
])
def test_a_users_data_shaped_like_our_type_tag_comes_back_as_it_was_sent(value):
    args, kwargs = roundtrip(value, key=value)
    assert args == (value,) and kwargs == {"key": value}


def test_a_results_data_shaped_like_our_type_tag_comes_back_as_it_was_returned():
    from jobs.engine.wire.outcome import SUCCESS, Outcome
    from jobs.engine.wire.outcome import decode as decode_result
    from jobs.engine.wire.outcome import encode as encode_result

    value = {"$jobs": "dec", "v": "1.5"}
    meta = decode_result(encode_result(Outcome(SUCCESS, value), "t.x", "json", "w"), JSON)
    assert meta.value == value


def test_a_tag_whose_value_cannot_be_read_is_a_decode_error_not_a_crash():
    wire = Message(id="x2", task="t.echo").encode().replace('|[]', '|[{"$jobs":"b","v":"not base64!"}]')
    with pytest.raises(DecodeError, match="broken envelope"):
        decode(wire, "default", JSON)
