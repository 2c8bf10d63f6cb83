"""Arguments that cannot travel, found and named: which argument (`kwargs['note']['when'][1]`), and
why, so that a call fails where it is made, saying what to change, rather than in a worker later.

Lists and dicts may nest at most MAX_DEPTH levels in an argument or a result. Everything that reads
them (the JSON codec in C, the redactor, the history's recorder, the console) walks them by
recursion, and Python's recursion limit (1000 frames, shared with whatever called it) gives out
near 500 levels in the slowest of them: a bound well under that, checked where the data is encoded
and again where a worker decodes it, keeps every reader safe, whatever its own stack holds. The
checks here walk with stacks of their own, never by recursion: they must work on exactly the data
recursion cannot.
"""

from __future__ import annotations

from typing import Any

from ..errors import EncodeError
from .serializers import is_model_instance, json_dumps

#: How deeply lists and dicts may nest in an argument or a result (docs/tasks.md). The slowest reader
#: (the history's JSON, read back by Python code at about two frames a level) fails near 490 levels
#: with nothing else on the stack; a task or a view calling delay() may hold a few hundred frames.
MAX_DEPTH = 100
_NESTS = (dict, list, tuple)


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


def largest_argument(args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]) -> tuple[int, str] | None:
    """(size of its JSON in UTF-8 bytes, where) of the largest argument, for a message too long."""
    sizes = [(len(json_dumps(v).encode("utf-8", "surrogatepass")), where) for where, v in _places(args, kwargs)]
    return max(sizes) if sizes else None
