"""Rate limits shared by every worker of the cluster, enforced in Redis (lua/rate.lua).

    @task(rate_limit="100/m")                                             a budget for this task
    @task(rate_limit="10/s", rate_limit_key=lambda shop_id, **_: f"shop:{shop_id}")   one per key
    JOBS["RATE_LIMITS"] = {"partner.*": "10/s"}                           one budget for a group

A call takes from every budget that applies: its task's (per key, if the task has a key function)
and the first RATE_LIMITS pattern its name matches. Celery enforces rate limits in each worker, so
ten workers make ten times the rate; here the budget lives in Redis and all workers draw on it.

A delivery over its limit is put back into the scheduled set until its turn, in the same atomic
step as the check: it does not run, does not hold a worker process, and is not spun on. The
limit is kept on start times: no period holds more starts than the limit.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable
from typing import Any, Protocol

from ..bounds import MAX_SECONDS, shown
from ..errors import ConfigurationError

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|second|m|min|minute|h|hour))?\s*$")
_UNIT = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


#: The fastest rate (starts per second) and the slowest (one per MAX_SECONDS), so that the interval
#: the scripts get is a finite, positive number of ms they can add to a clock and expire keys by.
MAX_PER_SECOND = 1_000_000


def interval_ms(rate: Any, where: str) -> float:
    """'100/m' -> ms between starts (600.0). A bare number is per second, as in Celery."""
    if isinstance(rate, (int, float)) and not isinstance(rate, bool):
        count, seconds = rate, 1
    else:
        match = _RATE.match(str(rate)) if isinstance(rate, str) else None
        if match is None:
            raise ConfigurationError(f"{where}: rate {shown(rate)} is not a rate; write '10/s', '100/m' or '1000/h'")
        count, seconds = float(match.group(1)), _UNIT[match.group(2) or "s"]
    # Compared before any division: NaN passes `count <= 0`, and 1e-300 would give an interval of
    # 1e303 ms, which Redis refuses as an expiry (lua/rate.lua's PEXPIRE) for every message.
    if not (isinstance(count, int) or math.isfinite(count)) or not (
            seconds / MAX_SECONDS <= count <= MAX_PER_SECOND * seconds):
        raise ConfigurationError(f"{where}: rate {shown(rate)} must allow more than 0 runs, at most "
                                 f"{MAX_PER_SECOND} a second and at least one in ten years ('10/s', '100/m', "
                                 "'1000/h' or a number per second)")
    return seconds * 1000 / float(count)


class Limited(Protocol):
    """What a rate limit needs of a task (definition.TaskDefinition)."""

    name: str
    rate_limit: str | float | None
    rate_limit_key: Callable[..., str] | None


class RateLimits:
    def __init__(self, groups: dict[str, Any] | None) -> None:
        self.groups: list[tuple[re.Pattern[str], str, float]] = []
        if groups is None:
            groups = {}
        if not isinstance(groups, dict):
            raise ConfigurationError("JOBS['RATE_LIMITS'] must be a dict of task name pattern -> rate, e.g. "
                                     "{'partner.*': '10/s'}")
        for pattern, rate in groups.items():
            if not isinstance(pattern, str) or not pattern:
                raise ConfigurationError(f"JOBS['RATE_LIMITS']: pattern {pattern!r} must be a task name or a glob")
            self.groups.append((re.compile(fnmatch.translate(pattern)), pattern,
                                interval_ms(rate, f"JOBS['RATE_LIMITS'][{pattern!r}]")))
        self._cache: dict[str, list[tuple[str, float, Callable[..., Any] | None]]] = {}

    def _of(self, task: Limited) -> list[tuple[str, float, Callable[..., Any] | None]]:
        found = self._cache.get(task.name)
        if found is None:
            found = []
            if task.rate_limit is not None:
                found.append((f"task:{task.name}", interval_ms(task.rate_limit, task.name), task.rate_limit_key))
            group = next(((p, ms) for regex, p, ms in self.groups if regex.match(task.name)), None)
            if group is not None:
                found.append((f"group:{group[0]}", group[1], None))
            self._cache[task.name] = found
        return found

    def budgets(self, task: Limited, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[tuple[str, float]]:
        """(budget name, interval ms) of every budget this call takes from; [] when unlimited."""
        limits = self._of(task)
        if not limits:
            return []
        out = []
        for name, ms, key_of in limits:
            if key_of is not None:
                key = key_of(*args, **kwargs)
                if not isinstance(key, str) or not key:
                    raise ValueError(f"{task.name}: rate_limit_key returned {key!r}; it must return a non-empty "
                                     "string, such as f'shop:{shop_id}'")
                name = f"{name}:{key}"
            out.append((name, ms))
        return out
