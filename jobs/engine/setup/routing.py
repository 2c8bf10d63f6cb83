r"""Which queue (and priority) a call goes to: JOBS["ROUTES"].

    JOBS["ROUTES"] = {
        "reports.tasks.*": "reports",                                  # glob on the task name -> queue
        "shop.tasks.charge": {"queue": "payments", "priority": 9},
    }
    JOBS["ROUTES"] = [{"reports.*": "reports"}, route_by_customer]      # a list: tried in order
    JOBS["ROUTES"] = {re.compile(r"(video|image)[.]tasks[.]"): "media"}  # a regular expression
    def route_by_customer(name, args, kwargs, options): ...             # -> None, a queue, or a dict

Rules are tried in order and the first that matches wins. What decides, strongest first:
apply_async(queue=/priority=), then ROUTES, then @task(queue=/priority=), then DEFAULT_QUEUE and 0.
ROUTES sits above the decorator on purpose: routes are deploy-time settings, so an operator can move
a task to another queue without touching the code that declares it.

Routes are checked when the settings are read, so a typo in a queue name fails at start-up rather
than sending work to a queue no worker serves. A table of patterns is resolved once per task name
and cached; only a callable rule is asked on every call.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError
from ..wire.names import check_name, check_priority

ROUTE_KEYS = frozenset({"queue", "priority"})


@dataclass(frozen=True, slots=True)
class Route:
    """Where a route sends a call: a queue and/or a priority (None: the route says nothing of it)."""

    queue: str | None = None
    priority: int | None = None


NO_ROUTE = Route()


def _target(value: Any, where: str) -> Route:
    if value is None:
        return NO_ROUTE
    if isinstance(value, str):
        value = {"queue": value}
    if not isinstance(value, dict):
        raise ConfigurationError(f"{where}: a route is a queue name or a dict with 'queue' and/or 'priority', "
                                 f"not {value!r}")
    unknown = set(value) - ROUTE_KEYS
    if unknown:
        raise ConfigurationError(f"{where}: unknown route key(s) {sorted(unknown)}; known: queue, priority")
    queue, priority = value.get("queue"), value.get("priority")
    if queue is not None:
        check_name(f"{where} queue", queue)
    if priority is not None:
        check_priority(priority, ConfigurationError, f"{where}: priority")
    return Route(queue, priority)


Rule = tuple["re.Pattern[str]", Route, str] | Callable[..., Any]


class Router:
    def __init__(self, routes: Any) -> None:
        self.rules: list[Rule] = []
        if routes is None:
            routes = []
        if isinstance(routes, dict) or callable(routes):
            routes = [routes]
        if not isinstance(routes, (list, tuple)):
            raise ConfigurationError("JOBS['ROUTES'] must be a dict of pattern -> queue, a callable, or a list of "
                                     f"those, not {type(routes).__name__}")
        for i, item in enumerate(routes):
            if callable(item):
                self.rules.append(item)
            elif isinstance(item, dict):
                for pattern, target in item.items():
                    where = f"JOBS['ROUTES'][{pattern!r}]"
                    if isinstance(pattern, re.Pattern):  # Celery's re.compile(...) keys
                        self.rules.append((pattern, _target(target, where), pattern.pattern))
                        continue
                    if not isinstance(pattern, str) or not pattern:
                        raise ConfigurationError(f"JOBS['ROUTES']: pattern {pattern!r} must be a task name, "
                                                 "a glob like 'reports.tasks.*' or a re.compile(...)")
                    self.rules.append((re.compile(fnmatch.translate(pattern)), _target(target, where), pattern))
            else:
                raise ConfigurationError(f"JOBS['ROUTES'][{i}] must be a dict or a callable, not {item!r}")
        self.static = not any(callable(rule) for rule in self.rules)
        self._cache: dict[str, Route] = {}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def route(self, name: str, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None,
              options: dict[str, Any] | None = None) -> Route:
        """The first matching rule's Route, or NO_ROUTE."""
        if self.static:
            cached = self._cache.get(name)
            if cached is None:
                cached = self._cache[name] = self._lookup(name, args, kwargs or {}, options or {})
            return cached
        return self._lookup(name, args, kwargs or {}, options or {})

    def _lookup(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any]) -> Route:
        for rule in self.rules:
            if callable(rule):
                found = _target(rule(name, args, kwargs, options), f"route {getattr(rule, '__name__', rule)!r}"
                                f" for {name}")
                if found is not NO_ROUTE:
                    return found
            elif rule[0].match(name):
                return rule[1]
        return NO_ROUTE

    def pattern_route(self, name: str) -> Route:
        """The first matching pattern's Route, the callables skipped."""
        return next((rule[1] for rule in self.rules if not callable(rule) and rule[0].match(name)), NO_ROUTE)

    def patterns(self) -> list[tuple[str, Route]]:
        """The pattern rules, for `jobs status` to check that someone serves their queues."""
        return [(rule[2], rule[1]) for rule in self.rules if not callable(rule)]
