"""django-celery-beat's way of giving a periodic task its schedule, on top of jobs' one `schedule`.

django-celery-beat has a nullable foreign key per kind (`interval`, `crontab`, `solar`, `clocked`) and
asks that exactly one be set; jobs has one `schedule`, to a row of one of three kinds, so a task cannot
have two or none. Code written for django-celery-beat runs unchanged on it: the keywords in the
constructor, `create()`, `get_or_create()` and `update_or_create(defaults=...)`, the attributes (read:
the schedule if it is of that kind, else None; set: it becomes the schedule; set to None: clears it if
it was of that kind, so `crontab=c, interval=None` works in either order), and the lookups of
`filter()`, `exclude()` and `get()` (`interval=s`, `crontab__hour="8"`, `clocked__isnull=True`).

What jobs does not do is refused where it is said, with what to do instead, never kept and ignored:
a solar schedule, AMQP routing (`exchange`, `routing_key`, `headers`). The
empty values django-celery-beat code passes for them (None, "", "{}") are accepted.

This module imports no model (periodic_task.py imports it): the kinds are told apart by their model names.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import models

#: django-celery-beat's field -> the model (and reverse one-to-one accessor of Schedule) of that kind.
KINDS = {"interval": "intervalschedule", "crontab": "crontabschedule", "clocked": "clockedschedule"}
_CLASS_NAMES = {"interval": "IntervalSchedule", "crontab": "CrontabSchedule", "clocked": "ClockedSchedule"}

NOT_CARRIED = {
    "solar": "jobs has no solar schedules (sunrise, dusk...): give this task a crontab at the time you want, "
             "in its time zone (crontab=CrontabSchedule(hour=..., timezone=...))",
    "exchange": "jobs has no AMQP exchanges: a periodic task's queue= says where its runs go",
    "routing_key": "jobs has no AMQP routing keys: a periodic task's queue= says where its runs go",
    "headers": "a periodic task's runs carry no custom headers in jobs: pass what the task needs in "
               "args or kwargs",
}


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, dict)) and value in ("", "{}", {}))


def _not_carried(name: str) -> property:
    def get(self: Any) -> Any:
        return "{}" if name == "headers" else None

    def set_(self: Any, value: Any) -> None:
        if not _empty(value):
            raise ValueError(f"{name}={value!r}: {NOT_CARRIED[name]}")

    return property(get, set_, doc=f"django-celery-beat's {name}: always empty here ({NOT_CARRIED[name]}).")


def _kind(name: str) -> property:
    def get(self: Any) -> Any:
        return self.schedule_of_kind(name)

    def set_(self: Any, value: Any) -> None:
        self.set_schedule_of_kind(name, value)

    return property(get, set_, doc=f"django-celery-beat's {name}: the schedule if it is a {_CLASS_NAMES[name]}, "
                                   "else None; setting one makes it the schedule.")


class CeleryBeatKeywords:
    """The mixin PeriodicTask takes django-celery-beat's keywords and attributes from."""

    schedule: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        given = [name for name in ("schedule", *KINDS) if kwargs.get(name) is not None]  # solar: refused alone
        if len(given) > 1:
            raise ValueError(f"a periodic task has one schedule, and {' and '.join(given)} were given: keep one "
                             "(django-celery-beat refuses this too, when it saves)")
        super().__init__(*args, **kwargs)

    def schedule_of_kind(self, name: str) -> Any:
        try:
            schedule = self.schedule
        except ObjectDoesNotExist:  # no schedule yet (or it was cleared)
            return None
        if schedule is None:
            return None
        model_name = schedule._meta.model_name
        if model_name != "schedule":  # a row of one kind, as assigned
            return schedule if model_name == KINDS[name] else None
        try:
            return getattr(schedule, KINDS[name])  # cached on the schedule: asked once
        except ObjectDoesNotExist:
            return None

    def set_schedule_of_kind(self, name: str, value: Any) -> None:
        if value is None:
            if self.schedule_of_kind(name) is not None:
                self.schedule = None  # saving it so is refused: a periodic task needs a schedule
            return
        model_name = getattr(getattr(value, "_meta", None), "model_name", None)
        if model_name != KINDS[name]:
            other = next((kind for kind, model in KINDS.items() if model == model_name), None)
            hint = f" (it is a {type(value).__name__}: give it as {other}=)" if other else ""
            raise TypeError(f"{name} must be a {_CLASS_NAMES[name]} or None, not {type(value).__name__}{hint}")
        self.schedule = value

    interval = _kind("interval")
    crontab = _kind("crontab")
    clocked = _kind("clocked")
    solar = _not_carried("solar")
    exchange = _not_carried("exchange")
    routing_key = _not_carried("routing_key")
    headers = _not_carried("headers")


def _lookup(key: str) -> str:
    """interval=..., crontab__hour=..., clocked_id=... -> the same asked of `schedule`."""
    head, sep, rest = key.partition("__")
    if head.endswith("_id") and head[:-3] in KINDS:
        return f"schedule__{KINDS[head[:-3]]}__pk{sep}{rest}"
    if head in KINDS:
        return f"schedule__{KINDS[head]}{sep}{rest}"
    return key


def _rewrite(condition: Any) -> Any:
    if not isinstance(condition, models.Q):
        return condition
    q = copy.copy(condition)
    q.children = [(_lookup(c[0]), c[1]) if isinstance(c, tuple) else _rewrite(c) for c in condition.children]
    return q


class PeriodicTaskQuerySet(models.QuerySet[Any]):
    """Lookups by django-celery-beat's schedule fields; bulk writes checked as save() checks a row."""

    def filter(self, *args: Any, **kwargs: Any) -> Any:
        return super().filter(*map(_rewrite, args), **{_lookup(k): v for k, v in kwargs.items()})

    def exclude(self, *args: Any, **kwargs: Any) -> Any:
        return super().exclude(*map(_rewrite, args), **{_lookup(k): v for k, v in kwargs.items()})

    def update(self, **kwargs: Any) -> int:
        given = {name: kwargs.pop(name) for name in KINDS if name in kwargs}
        chosen = [n for n, v in given.items() if v is not None] + ["schedule"] * (kwargs.get("schedule") is not None)
        if len(chosen) > 1:
            raise ValueError(f"a periodic task has one schedule, and {' and '.join(chosen)} were given: keep one")
        for name, value in given.items():
            if value is not None:
                self.model().set_schedule_of_kind(name, value)  # the checks of setting the attribute
                kwargs["schedule"] = value
        if given and kwargs.get("schedule") is None:
            raise ValueError(f"update({', '.join(f'{n}=None' for n in given)}) would leave the periodic tasks "
                             "without a schedule: give the new one in the same update (e.g. crontab=...)")
        return super().update(**kwargs)

    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> list[Any]:
        """bulk_create() does not call save(): the rows are checked here as save() would check them,
        so JSON text in args is read and a name that would break the message is refused."""
        objs = list(objs)
        for obj in objs:
            obj.check_sendable()
        return super().bulk_create(objs, *args, **kwargs)
