"""How task arguments and results become text, and back.

JSON is the default and the only content type a worker accepts unless told otherwise: decoding JSON
cannot run code, unpickling can. Our JSON carries a few types plain JSON cannot (datetime, date,
time, Decimal, UUID, bytes) as tagged objects ``{"$jobs": "dt", "v": "..."}`` so they come back as
the same type. A dict of the caller's own with a "$jobs" key is escaped (``{"$jobs": "esc", "v":
[[key, value], ...]}``), so that user data always comes back as it was sent, never read as a tag.
Anything else fails at enqueue time, naming the argument (arguments.py), rather than failing later in
a worker. Two
JSON habits remain and are documented: tuples arrive as lists, and int/float/bool/None dict keys
arrive as strings. A Django model instance is refused with a hint to pass its primary key: the row
may have changed by the time the task runs, and pickling it would freeze a stale copy.
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

from ..errors import ContentDisallowed, DecodeError

TAG = "$jobs"


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
