"""Numbers that come in from outside, checked by one rule where they come in.

A call's options, @task(...), JOBS, a management command's flags, django.tasks' priority: every
number a user gives jobs passes here once, at the door, and nowhere on the worker's per-task path.

Why a rule of its own: `nan <= 0` is False and `inf > 0` is True, so a range check alone lets both
through, and either then breaks far from where it came in. `time_limit=inf` reached the worker's
board as int(inf * 1000), which raised in the middle of a seqlock write and wedged the supervisor;
`rate_limit=nan` reached a Lua script as "nan" and stalled a queue; `countdown=nan` compared false
with 0 and ran at once. So a number is: a real number (an int or a float; not a bool, not a string
of digits), finite, within its range, and at most a documented maximum, which keeps every product
the worker and the scripts make of it (milliseconds, deadlines, int64 cells) far from overflow.
Anything else is refused with the name of what was given, what it must be, and what was passed.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

#: The longest duration anything takes (a countdown, an expiry, a time limit, a lock, a result's
#: life, a retry delay): ten years of 365 days. Far past any real need, far below where seconds made
#: into milliseconds or added to a clock lose precision or overflow an int64 (2**63 ms is 292
#: million years).
MAX_SECONDS = 10 * 365 * 86400.0
#: The longest wait of the machinery itself (a lease, a timeout, a shutdown's grace): a day.
MAX_WAIT = 86400.0


def shown(value: Any) -> str:
    """The value as an error message shows it: an int too long to print (past 4,300 digits Python
    refuses to) by its size, anything else by a repr cut to 60 characters."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 100:
        return f"an int of about {int(value.bit_length() * 0.30103) + 1} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def describe(low: float, high: float, above: bool, unit: str, none: str = "") -> str:
    """'a number of seconds (or a timedelta) from 1 to 86400 (a day)', 'an int from 0 to 9', ..."""
    highest = _number(high) + {MAX_SECONDS: " (ten years)", MAX_WAIT: " (a day)"}.get(high, "")
    if above and low == 0:
        text = f"a positive {unit.removeprefix('a ')} up to {highest}"
    elif above:
        text = f"{unit} above {_number(low)} and up to {highest}"
    else:
        text = f"{unit} from {_number(low)} to {highest}"
    return f"None ({none}) or {text}" if none else text


def seconds(value: Any, what: str, *, low: float = 0.0, above: bool = False, high: float = MAX_SECONDS,
            error: type[Exception] = ValueError, type_error: type[Exception] = TypeError, none: str = "") -> float:
    """`value` (an int, a float or a timedelta) as a float of seconds, if finite and in [low, high]
    (above: low itself refused); else `type_error` (not a number at all) or `error`, naming `what`.
    -0.0 comes back as 0.0. `none`: what None means where the caller takes it (said in the error)."""
    if isinstance(value, dt.timedelta):
        value = value.total_seconds()
    return real(value, what, low=low, above=above, high=high, error=error, type_error=type_error, none=none,
                unit="a number of seconds (or a timedelta)")


def real(value: Any, what: str, *, low: float, high: float, above: bool = False, unit: str = "a number",
         error: type[Exception] = ValueError, type_error: type[Exception] = TypeError, none: str = "") -> float:
    """seconds() for any unit (`unit` says which: 'a number of days')."""
    expected = describe(low, high, above, unit, none)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise type_error(f"{what} must be {expected}, not {shown(value)}")
    # Compared as given: an int too large for a float (10**400) is refused here, not by float().
    if (isinstance(value, float) and not math.isfinite(value)) or not (
            low < value <= high if above else low <= value <= high):
        raise error(f"{what} must be {expected}, not {shown(value)}")
    return float(value) + 0.0


def integer(value: Any, what: str, *, low: int, high: int, error: type[Exception] = ValueError,
            type_error: type[Exception] = TypeError, none: str = "") -> int:
    """`value` if it is an int (not a bool, not a float, not a string of digits) in [low, high];
    else `type_error` or `error`, naming `what`."""
    expected = describe(low, high, False, "an int", none)
    if isinstance(value, bool) or not isinstance(value, int):
        raise type_error(f"{what} must be {expected}, not {shown(value)}")
    if not low <= value <= high:
        raise error(f"{what} must be {expected}, not {shown(value)}")
    return int(value)
