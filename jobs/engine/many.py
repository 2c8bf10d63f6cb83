"""One or many: the checks of every public call that takes a collection (control's ids, bulk
enqueue, workflows, a task's arguments, result handles).

Python iterates a str as its characters, bytes as ints and a dict as its keys, so a call written
for a list and given one id does something, silently and wrongly: `revoke("<id>")` revoked 36
one-character ids and the task still ran. Each check here either takes the value as the caller
meant it (one id is a list of one) or raises TypeError naming the call, the argument, what it takes
and what it got; nothing is sent or changed before it passes.

    ids(task_ids, "task_ids", "control.revoke")       one id (str) or an iterable of ids -> list
    one(task_id, "task_id", "control.retry")          exactly one str
    items(members, "members", "group()")              an iterable, not a str, bytes nor a dict -> list
    positional(args, "add")                           a task's args: a list or tuple (or any ordered iterable)
    keywords(kwargs, "add")                           a task's kwargs: a mapping with str keys -> dict
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from typing import Any

#: Iterable, but never meant as a collection of items: iterated, they fall apart.
_ATOMS = (str, bytes, bytearray, memoryview)


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:80]}{'...' if len(text) > 80 else ''}"


def ids(value: Any, what: str, where: str) -> list[str]:
    """One id (a str) as a list of one, or an iterable of str ids as a list; else TypeError. A
    dict is refused (its keys would be taken for ids without saying so), so is an empty id."""
    if isinstance(value, str):
        found = [value]
    elif isinstance(value, _ATOMS) or isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise TypeError(f"{where}: {what} takes one id (a str) or a list of ids, not {_shown(value)}")
    else:
        found = list(value)
        wrong = next((item for item in found if not isinstance(item, str)), None)
        if wrong is not None:
            raise TypeError(f"{where}: {what} takes ids as str, and one of them is {_shown(wrong)}"
                            + (" (decode it: b'...'.decode())" if isinstance(wrong, bytes) else ""))
    if "" in found:
        raise TypeError(f"{where}: {what} holds an empty id ''")
    return found


def one(value: Any, what: str, where: str) -> str:
    """Exactly one str; a list of them (or anything else) is TypeError, naming the call that takes many."""
    if isinstance(value, str) and value:
        return value
    several = isinstance(value, Iterable) and not isinstance(value, _ATOMS)
    many = " (for several, call it once for each)" if several else ""
    raise TypeError(f"{where}: {what} must be one str (not empty), not {_shown(value)}{many}")


def items(value: Any, what: str, where: str, takes: str) -> list[Any]:
    """An iterable of items as a list: not a str, bytes or a dict (whose characters, ints or keys
    would be taken for items), nor a set (no order, where order is the result's). `takes` says
    what each item is, for the message."""
    if isinstance(value, _ATOMS) or isinstance(value, (Mapping, Set)) or not isinstance(value, Iterable):
        raise TypeError(f"{where}: {what} takes a list of {takes}, not {_shown(value)}")
    return list(value)


def positional(value: Any, where: str) -> tuple[Any, ...]:
    """A task's positional arguments: None (none), a list or tuple, or another ordered iterable (a
    generator) as a tuple. A str, bytes, dict or set would be taken apart: TypeError (Celery's rule,
    "args must be a list or tuple", with generators allowed)."""
    if value is None:
        return ()
    if isinstance(value, tuple):
        return value
    if isinstance(value, _ATOMS) or isinstance(value, (Mapping, Set)) or not isinstance(value, Iterable):
        hint = f" (one argument: ({value!r},))" if isinstance(value, _ATOMS) else ""
        raise TypeError(f"{where}: args takes a list or tuple of positional arguments, not {_shown(value)}{hint}")
    return tuple(value)


def keywords(value: Any, where: str) -> dict[str, Any]:
    """A task's keyword arguments: None (none) or a mapping whose keys are str, as a dict."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{where}: kwargs takes a dict of keyword arguments, not {_shown(value)}")
    wrong = next((key for key in value if not isinstance(key, str)), None)
    if wrong is not None:
        raise TypeError(f"{where}: kwargs takes str keys (argument names), and one is {_shown(wrong)}")
    return dict(value)
