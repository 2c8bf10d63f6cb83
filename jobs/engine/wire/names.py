"""Names that travel inside messages and Redis keys: task names, queue names, task ids, the key prefix;
and priorities. Checked where they enter (a decorator, a call, a setting, a form), so that nothing
that could break a '|'-separated wire header or a key is ever sent."""

from __future__ import annotations

import re

from ..errors import ConfigurationError

#: Matched with fullmatch: a pattern ending in `$` would also match before a final newline, and
#: "emails\n" is a queue no worker reads.
_NAME = re.compile(r"[A-Za-z0-9_.:\-]{1,200}")

#: Priorities run 0..MAX_PRIORITY; the highest first.
MAX_PRIORITY = 9


def check_name(what: str, value: object, error: type[Exception] = ConfigurationError) -> str:
    """The name, if it can travel in a wire header and a key; else `error`, saying what is allowed."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise error(f"{what} is {value!r}: use 1-200 characters from letters, digits and . _ : -")
    return value


def check_priority(priority: object, error: type[Exception] = ValueError, where: str = "priority") -> int:
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= MAX_PRIORITY:
        raise error(f"{where} must be an int from 0 to {MAX_PRIORITY} ({MAX_PRIORITY} runs first), not {priority!r}")
    return priority
