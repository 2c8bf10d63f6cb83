"""What of a call's arguments may be written down: in results, the history, logs and error emails.

A task sees its arguments as they were sent. Everything written *about* a run goes through here
first, because those places are read by more people, and kept longer, than the task's own code:

- the value of a parameter whose name contains one of JOBS["REDACT"] (ignoring case) becomes "***":
  keyword arguments by their name, positional ones by the name the task's signature gives their
  position, and keys of dicts inside either, at any depth;
- a value JSON cannot carry (an argument sent with the pickle serializer) becomes its short repr;
- when the arguments take more than JOBS["STORED_ARGS_MAX"] bytes of JSON, the largest values are
  replaced by a description of themselves ("<str of 1,048,576 bytes>") until they fit, so a task
  called with a 10 MB blob does not put 10 MB into every result, history row and log line;
- lists and dicts nested deeper than MAX_DEPTH (arguments.py), or inside themselves (pickle can
  carry that), become a mark. A sender refuses such arguments, but a message sent by hand or by an
  older version may hold them, and what writes about a run must never fail on what it writes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .arguments import MAX_DEPTH
from .serializers import json_dumps

HIDDEN = "***"
#: What stands for a list or dict nested deeper than MAX_DEPTH, or inside itself.
DEEP = f"<nested deeper than {MAX_DEPTH} levels>"
CIRCULAR = "<circular reference>"
_NUMBERS = frozenset({int, float, bool, type(None)})
_NESTS = (dict, list, tuple)
#: How much of a value JSON cannot carry is kept (its repr, cut).
REPR_MAX = 200


class Redactor:
    """JOBS["REDACT"] and JOBS["STORED_ARGS_MAX"], applied. One per App (its config's)."""

    def __init__(self, names: tuple[str, ...], limit: int) -> None:
        self.names = tuple(n.lower() for n in names)
        self.limit = limit
        self._hidden: dict[str, bool] = {}
        #: function -> for each positional parameter, whether it is redacted (None: none is)
        self._positions: dict[Callable[..., Any], tuple[bool, ...] | None] = {}

    def hidden(self, name: str) -> bool:
        known = self._hidden.get(name)
        if known is None:
            lowered = name.lower()
            known = self._hidden[name] = any(part in lowered for part in self.names)
        return known

    def stored(self, fn: Callable[..., Any] | None, args: tuple[Any, ...] | list[Any],
             kwargs: dict[str, Any], bound: bool = False) -> tuple[Any, Any, bool]:
        """(args, kwargs, complete) as they may be stored: redacted, JSON-safe, within the size
        limit; complete is False if anything was redacted or described (they cannot be used to run
        the task again). fn is the task's function (None for a task this process does not know:
        only keyword names and dict keys are matched then); bound: its first parameter is the task
        (bind=True)."""
        positions = self._positions_of(fn, bound) if fn is not None else None
        if positions is None and self._plain(args, kwargs):  # most calls: ids, numbers, short strings
            return list(args), kwargs, True
        seen = _Seen()
        out_args = [self._hide(seen) if positions is not None and i < len(positions) and positions[i]
                    else self._value(v, seen) for i, v in enumerate(args)]
        out_kwargs = {k: self._hide(seen) if self.hidden(k) else self._value(v, seen) for k, v in kwargs.items()}
        stored_args, stored_kwargs, fits = self.fit(out_args, out_kwargs)
        return stored_args, stored_kwargs, fits and not seen.changed

    def _plain(self, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]) -> bool:
        """Nothing to redact, nothing JSON cannot carry, and surely within the limit (a string's
        JSON is at most 6 bytes a character, a number's at most 32), told without encoding."""
        size = 0
        for value in (*args, *kwargs.values()):
            kind = type(value)
            if kind is str:
                size += 6 * len(value) + 2
            elif kind in _NUMBERS:
                size += 32
            else:
                return False
        if kwargs:
            hidden = self.hidden
            for key in kwargs:
                if hidden(key):
                    return False
                size += 6 * len(key) + 3
        return size <= self.limit

    def value(self, value: Any) -> Any:
        """A value with the keys of its dicts (at any depth) redacted."""
        return self._value(value, _Seen())

    def _value(self, value: Any, seen: _Seen, depth: int = 0) -> Any:
        """The value redacted; recursive, with the depth bounded (a mark past MAX_DEPTH) and the
        containers on the way down remembered (a mark for one inside itself). Plain values are
        taken as they are without a call: most of what is walked."""
        if not isinstance(value, _NESTS):
            return value
        key, path = id(value), seen.path
        if depth >= MAX_DEPTH or key in path:
            seen.changed = True
            return DEEP if depth >= MAX_DEPTH else CIRCULAR
        path.add(key)
        below = depth + 1
        if isinstance(value, dict):
            hidden = self.hidden
            out: Any = {k: self._hide(seen) if isinstance(k, str) and hidden(k)
                        else self._value(v, seen, below) if isinstance(v, _NESTS) else v for k, v in value.items()}
        else:
            out = [self._value(v, seen, below) if isinstance(v, _NESTS) else v for v in value]
        path.discard(key)  # not on the way down any more (left behind by an exception: no matter, seen is this call's)
        return out

    @staticmethod
    def _hide(seen: _Seen) -> str:
        seen.changed = True
        return HIDDEN

    def fit(self, args: list[Any], kwargs: dict[str, Any]) -> tuple[Any, Any, bool]:
        """JSON-safe, and at most `limit` bytes of JSON: the largest values described instead.
        The third value: nothing had to be changed."""
        try:
            size = len(json_dumps([args, kwargs]))
            whole = True
        except (TypeError, ValueError):
            args = [_carried(v) for v in args]
            kwargs = {k: _carried(v) for k, v in kwargs.items()}
            size = len(json_dumps([args, kwargs]))
            whole = False
        if size <= self.limit:
            return args, kwargs, whole
        sizes: list[tuple[int, int, str | None]] = [(len(json_dumps(v)), i, None) for i, v in enumerate(args)]
        sizes += [(len(json_dumps(v)), -1, k) for k, v in kwargs.items()]
        for n, i, k in sorted(sizes, key=lambda s: s[0], reverse=True):
            value = args[i] if k is None else kwargs[k]
            described = f"<{type(value).__name__} of {n:,} bytes>"
            if k is None:
                args[i] = described
            else:
                kwargs[k] = described
            size -= n - len(json_dumps(described))
            if size <= self.limit:
                return args, kwargs, False
        return (f"<{len(args)} positional arguments: over STORED_ARGS_MAX>",
                f"<{len(kwargs)} keyword arguments: over STORED_ARGS_MAX>", False)

    def text(self, fn: Callable[..., Any] | None, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any],
             bound: bool = False) -> str:
        """The arguments as one line for a log or an email: "args=[...] kwargs={...}"."""
        a, k, _ = self.stored(fn, args, kwargs, bound)
        return f"args={json_dumps(a)} kwargs={json_dumps(k)}"

    def _positions_of(self, fn: Callable[..., Any], bound: bool) -> tuple[bool, ...] | None:
        try:
            return self._positions[fn]
        except KeyError:
            pass
        try:
            params = [p for p in inspect.signature(fn).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        except (TypeError, ValueError):  # a builtin or a callable without a signature
            params = []
        if bound and params:
            params = params[1:]
        flags = tuple(self.hidden(p.name) for p in params)
        positions = self._positions[fn] = flags if any(flags) else None
        return positions


class _Seen:
    """Whether anything was redacted, for one call; and the containers being walked."""

    __slots__ = ("changed", "path")

    def __init__(self) -> None:
        self.changed = False
        self.path: set[int] = set()


def _carried(value: Any) -> Any:
    try:
        json_dumps(value)
        return value
    except (TypeError, ValueError):
        try:
            text = repr(value)
        except Exception:  # a repr that raises must not stop what is being written
            text = f"<{type(value).__name__}>"
        return text if len(text) <= REPR_MAX else text[:REPR_MAX] + "..."
