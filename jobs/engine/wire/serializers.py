"""How task arguments and results become text, and back.

JSON is the default and the only content type a worker accepts unless told otherwise: decoding JSON
cannot run code, unpickling can. Our JSON carries a few types plain JSON cannot (datetime, date,
time, Decimal, UUID, bytes) as tagged objects ``{"$jobs": "dt", "v": "..."}`` so they come back as
the same type. A dict of the caller's own with a "$jobs" key is escaped (``{"$jobs": "esc", "v":
[[key, value], ...]}``), so that user data always comes back as it was sent, never read as a tag.
Anything else fails at enqueue time, naming the argument, rather than failing later in a worker. Two
JSON habits remain and are documented: tuples arrive as lists, and int/float/bool/None dict keys
arrive as strings. A Django model instance is refused with a hint to pass its primary key: the row
may have changed by the time the task runs, and pickling it would freeze a stale copy.

Lists and dicts may nest at most MAX_DEPTH levels in an argument or a result. Everything that reads
them (the JSON codec in C, the redactor, the history's recorder, the console) walks them by
recursion, and Python's recursion limit (1000 frames, shared with whatever called it) gives out
near 500 levels in the slowest of them: a bound well under that, checked where the data is encoded
and again where a worker decodes it, keeps every reader safe, whatever its own stack holds.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import pickle
import re
import uuid
from collections.abc import Callable
from typing import Any

from ..errors import ContentDisallowed, DecodeError, EncodeError

TAG = "$jobs"
#: How deeply lists and dicts may nest in an argument or a result (docs/tasks.md). The slowest reader
#: (the history's JSON, read back by Python code at about two frames a level) fails near 490 levels
#: with nothing else on the stack; a task or a view calling delay() may hold a few hundred frames.
MAX_DEPTH = 100
_NESTS = (dict, list, tuple)


def _default(obj: Any) -> Any:
    # Called by the C encoder only for objects JSON does not know, so plain data pays nothing.
    if isinstance(obj, dt.datetime):
        return {TAG: "dt", "v": obj.isoformat()}
    if isinstance(obj, dt.date):
        return {TAG: "d", "v": obj.isoformat()}
    if isinstance(obj, dt.time):
        return {TAG: "t", "v": obj.isoformat()}
    if isinstance(obj, decimal.Decimal):
        return {TAG: "dec", "v": str(obj)}
    if isinstance(obj, uuid.UUID):
        return {TAG: "uuid", "v": str(obj)}
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return {TAG: "b", "v": base64.b64encode(bytes(obj)).decode("ascii")}
    if is_model_instance(obj):
        raise TypeError(
            f"it is a Django model instance ({type(obj).__name__}); pass its primary key "
            f"(obj.pk) and load the row inside the task, so the task sees the row as it is then"
        )
    raise TypeError(f"JSON cannot carry a {type(obj).__module__}.{type(obj).__qualname__}")


def _escape(obj: Any) -> Any:
    """A copy of `obj` in which each dict with a TAG key is wrapped as a list of its items."""
    if isinstance(obj, dict):
        items = {key: _escape(value) for key, value in obj.items()}
        if TAG in obj:
            return {TAG: "esc", "v": [[key, value] for key, value in items.items()]}
        return items
    if isinstance(obj, (list, tuple)):
        return [_escape(item) for item in obj]
    return obj


def _has_tag_key(obj: Any) -> bool:
    """Whether a dict inside `obj` has a TAG key; walked with a stack of its own, not by recursion
    (data that reaches it encoded, so it holds no circle, but may nest deeper than MAX_DEPTH)."""
    stack = [obj]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if TAG in value:
                return True
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
    return False


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "dt": dt.datetime.fromisoformat,
    "d": dt.date.fromisoformat,
    "t": dt.time.fromisoformat,
    "dec": decimal.Decimal,
    "uuid": uuid.UUID,
    "b": lambda v: base64.b64decode(v, validate=True),
    "esc": lambda v: {pair[0]: pair[1] for pair in v},
}


def _object_hook(obj: dict[str, Any]) -> Any:
    if TAG in obj and len(obj) == 2:
        decode = _DECODERS.get(obj[TAG])
        if decode is not None:
            return decode(obj["v"])
    return obj


def is_model_instance(obj: Any) -> bool:
    """True for a Django model instance, told without importing Django (the engine must not)."""
    return any(
        klass.__name__ == "Model" and klass.__module__ == "django.db.models.base"
        for klass in type(obj).__mro__
    )


_encoder = json.JSONEncoder(default=_default, separators=(",", ":"), ensure_ascii=False)
#: For text holding a lone surrogate (a file name read with surrogateescape: os.fsdecode, os.listdir),
#: which UTF-8, and so Redis, cannot carry as it is: escaped (\udcff), it travels and reads back the same.
_ascii_encoder = json.JSONEncoder(default=_default, separators=(",", ":"), ensure_ascii=True)
_decoder = json.JSONDecoder(object_hook=_object_hook)
_SURROGATE = re.compile("[\ud800-\udfff]")


_MARK = '"' + TAG + '"'


def json_dumps(obj: Any) -> str:
    text = _encoder.encode(obj)
    if _MARK in text and _has_tag_key(obj):  # our own tags, or a caller's dict with our tag as a key
        obj = _escape(obj)
        text = _encoder.encode(obj)
    if not text.isascii() and _SURROGATE.search(text):
        text = _ascii_encoder.encode(obj)
    return text


def may_nest_deeper(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON text might nest deeper than `limit`: no, surely, when it holds no more brackets
    than that (told in C, at memory speed: ordinary data never needs the walk of nesting_problem)."""
    return len(text) > 2 * limit and text.count("[") + text.count("{") > limit


def nesting_problem(value: Any, where: str, limit: int = MAX_DEPTH, root: str | None = None) -> str | None:
    """What makes `value` unfit to travel, if anything: lists and dicts nested more than `limit`
    deep, or one that contains itself (`root`, else `where`, starts the path to it). Walked with a
    stack of its own, never by recursion, and stopped at the first problem: it must work on exactly
    the data recursion cannot."""
    if not isinstance(value, _NESTS):
        return None
    keys: list[Any] = []  # the path from `value` to the container on top of the stack
    path = {id(value)}  # the containers on that path: meeting one again is a circle
    stack = [(value, _items(value))]
    while stack:
        for key, child in stack[-1][1]:
            if isinstance(child, _NESTS):
                if id(child) in path:
                    at = (where if root is None else root) + "".join(f"[{k!r}]" for k in (*keys, key))
                    return (f"{where} contains itself (a circular reference at {at}): JSON cannot carry it; "
                            "pass data that does not refer to itself")
                if len(stack) >= limit:
                    return (f"{where} is nested deeper than {limit} levels (lists and dicts inside each other): "
                            f"jobs refuses data nested deeper than {limit} (MAX_DEPTH) so that workers, the history "
                            "and the console can all read it; flatten it, or store it and pass a reference")
                keys.append(key)
                path.add(id(child))
                stack.append((child, _items(child)))
                break
        else:
            done, _ = stack.pop()
            path.discard(id(done))
            if keys:
                keys.pop()
    return None


def _items(value: Any) -> Any:
    return iter(value.items()) if isinstance(value, dict) else enumerate(value)


def json_loads(text: str | bytes) -> Any:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return _decoder.decode(text)


_raw_decoder = json.JSONDecoder()


def raw_loads(text: str | bytes) -> Any:
    """JSON text as it is, our tags left as tagged dicts: for JSON that only passes through (the
    history's recorder reads a result document and writes its arguments on as text), faster than
    json_loads and json_dumps, and giving back the same text."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return _raw_decoder.decode(text)


def raw_dumps(obj: Any) -> str:
    """JSON text of what raw_loads read (no tags to add: they are there already)."""
    text = _encoder.encode(obj)
    return _ascii_encoder.encode(obj) if not text.isascii() and _SURROGATE.search(text) else text


def pickle_dumps(obj: Any) -> str:
    return base64.b64encode(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)).decode("ascii")


def pickle_loads(text: str) -> Any:
    return pickle.loads(base64.b64decode(text))  # noqa: S301 - only reached when listed in ACCEPT_CONTENT


def encode_value(value: Any, content_type: str) -> Any:
    """Encode one value for embedding in a JSON document: as itself for JSON, as a string otherwise."""
    if content_type == "json":
        return value
    return pickle_dumps(value)


def decode_value(value: Any, content_type: str, accept: tuple[str, ...]) -> Any:
    if content_type not in accept:
        raise ContentDisallowed(
            f"content type {content_type!r} is not in JOBS['ACCEPT_CONTENT'] {list(accept)}; "
            "it was not decoded"
        )
    if content_type == "json":
        return value
    if content_type == "pickle":
        try:
            return pickle_loads(value)
        except Exception as exc:
            raise DecodeError(f"pickle payload could not be loaded: {exc}") from exc
    raise DecodeError(f"unknown content type {content_type!r}")


def explain_args(args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any], task: str) -> EncodeError:
    """After an encode failure, find which argument JSON cannot carry and say so by name."""
    places = _places(args, kwargs)
    for where, value in places:
        problem = nesting_problem(value, where)  # first: the walk below recurses
        if problem:
            return EncodeError(f"{task}: {problem}")
    for where, value in places:
        problem = _first_problem(value, where)
        if problem:
            return EncodeError(f"{task}: {problem}")
    return EncodeError(f"{task}: the arguments cannot be encoded as JSON")


def check_nesting(args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any], task: str,
                  error: type[Exception] = EncodeError) -> None:
    """`error` naming the first argument nested deeper than MAX_DEPTH, or containing itself."""
    for where, value in _places(args, kwargs):
        problem = nesting_problem(value, where)
        if problem:
            raise error(f"{task}: {problem}")


def _places(args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(f"args[{i}]", v) for i, v in enumerate(args)] + [(f"kwargs[{k!r}]", v) for k, v in kwargs.items()]


def refuse_model_instances(args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any], task: str) -> None:
    """Pickle could carry a model instance, but a stale copy of a row is the trap we exist to remove."""
    stack = _places(args, kwargs)
    seen: set[int] = set()  # pickle carries data that contains itself: each container is looked into once
    while stack:
        where, value = stack.pop()
        if isinstance(value, (dict, list, tuple, set, frozenset)):
            if id(value) in seen:
                continue
            seen.add(id(value))
        if is_model_instance(value):
            raise EncodeError(
                f"{task}: {where} is a Django model instance ({type(value).__name__}); pass its "
                "primary key (obj.pk) and load the row inside the task"
            )
        if isinstance(value, dict):
            stack.extend((f"{where}[{k!r}]", v) for k, v in value.items())
        elif isinstance(value, (list, tuple, set, frozenset)):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(value))


def _first_problem(value: Any, where: str) -> str | None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                return f"{where} has a key {key!r} ({type(key).__name__}); JSON object keys must be strings"
            problem = _first_problem(item, f"{where}[{key!r}]")
            if problem:
                return problem
        return None
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            problem = _first_problem(item, f"{where}[{i}]")
            if problem:
                return problem
        return None
    try:
        json_dumps(value)
    except (TypeError, ValueError) as exc:
        return f"{where} cannot be sent: {exc}"
    return None
