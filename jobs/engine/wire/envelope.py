"""A message read from Redis is checked field by field before the worker trusts it: one no sender of
ours writes (by hand, by another program, or corrupted) is refused with the field that is wrong, so
that it goes to the dead letters with that reason. Read on, a text where a number belongs would fail
later inside the worker, past the point where a message is set aside. message.decode calls these;
the envelope's short keys are message.Message._envelope's."""

from __future__ import annotations

import math
from typing import Any

from .names import MAX_PRIORITY

#: What the worker reads from an envelope as a number: (key or option, the test, what it must be).
_FIELD_RULES: tuple[tuple[str, Any, str], ...] = (
    ("p", lambda v: _is_int(v) and 0 <= v <= MAX_PRIORITY, f"an int from 0 to {MAX_PRIORITY}"),
    ("r", lambda v: _is_int(v) and v >= 0, "an int, 0 or more"),
    ("eta", lambda v: _is_finite(v), "a number (unix time)"),
    ("cd", lambda v: _is_finite(v), "a number of seconds"),
    ("exp", lambda v: _is_finite(v), "a number (unix time)"),
)
_OPTION_RULES: tuple[tuple[str, Any, str], ...] = (
    ("time_limit", lambda v: _is_finite(v) and v > 0, "a positive number of seconds"),
    ("soft_time_limit", lambda v: _is_finite(v) and v > 0, "a positive number of seconds"),
    ("unique_ms", lambda v: _is_int(v) and v >= 0, "an int, 0 or more"),
    ("unknown_since", lambda v: _is_finite(v), "a number (unix time)"),
    ("unknown_tries", lambda v: _is_int(v) and v >= 0, "an int, 0 or more"),
    ("slot_waits", lambda v: _is_int(v) and v >= 0, "an int, 0 or more"),
    ("slot", lambda v: isinstance(v, str) and v != "", "a non-empty string"),
)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_envelope(env: dict[str, Any]) -> None:
    """The envelope's own fields: its arguments, priority, retries, times and expiry."""
    if "a" in env and not isinstance(env["a"], list):
        raise TypeError(f"its arguments (\"a\") are {type(env['a']).__name__}, not a list")
    if len(env) > 1:  # more than the arguments alone (most messages are just those)
        if not isinstance(env.get("k", {}), dict):
            raise TypeError(f"its keyword arguments (\"k\") are {type(env['k']).__name__}, not an object")
        for key, valid, what in _FIELD_RULES:
            if env.get(key) is not None and not valid(env[key]):
                raise ValueError(f"{key!r} is {env[key]!r}, not {what}")
        xp = env.get("xp")
        if xp is not None and not (isinstance(xp, dict) and all(_is_finite(v) for v in xp.values())):
            raise ValueError(f"its expiry (\"xp\") is {xp!r}, not {{\"in\" or \"at\": a number}}")


def check_options(options: object) -> None:
    """The options it carries that the worker reads as numbers (message.MessageOptions)."""
    for name, valid, what in _OPTION_RULES:
        value = getattr(options, name)
        if value is not None and not valid(value):
            raise ValueError(f"option {name} is {value!r}, not {what}")

