"""A call's options, in one place: what a caller may say about one call of a task, each checked once.

    add.apply_async((2, 3), countdown=5, queue="math")    ->  CallOptions.parse(...)
    add.s(2, 3).set(priority=9)                            the same fields, carried by a signature
    send_task("reports.build", expires=600)                the same fields again

FIELDS is the table of them: the check that turns what a caller passes into the stored value (and
says what is wrong, naming the task), and whether a signature may carry it (an option that makes
sense before the call exists). Adding a call option is one row here, one attribute of CallOptions,
and its use (build.py, which makes the message, or the worker).

Which value wins is one rule, `first()`: the call's own option, then JOBS["ROUTES"] (queue and
priority only), then @task(...), then the settings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .. import bounds
from .names import MAX_PRIORITY, check_name

T = TypeVar("T")


def first(*values: T | None, default: T) -> T:
    """The first value that is set: call > ROUTES > @task > settings, as the caller lists them."""
    for value in values:
        if value is not None:
            return value
    return default


def aware_time(name: str, value: Any, what: str = "eta") -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{name}: {what} must be a datetime, not {type(value).__name__}; for seconds use countdown=")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: {what}={value!r} has no time zone; pass an aware datetime, e.g. "
                         "django.utils.timezone.now() + timedelta(minutes=5)")
    return value


def _seconds(name: str, value: Any, what: str, positive: bool = False) -> float:
    """Seconds (or a timedelta), finite and at most ten years (bounds.py); `positive`: above 0, else
    a negative one is allowed (a countdown or expiry already past: now)."""
    return bounds.seconds(value, f"{name}: {what}", low=0.0 if positive else -bounds.MAX_SECONDS, above=positive)


def expiry_value(name: str, value: Any, error: type[Exception] = ValueError) -> float | dt.datetime:
    """Seconds (or a timedelta) from when the message reaches Redis, or an aware datetime."""
    if isinstance(value, dt.datetime):
        return aware_time(name, value, "expires")
    if isinstance(value, (int, float, dt.timedelta)) and not isinstance(value, bool):
        return bounds.seconds(value, f"{name}: expires", low=-bounds.MAX_SECONDS, error=error)
    raise (TypeError if error is ValueError else error)(
        f"{name}: expires must be seconds, a timedelta or an aware datetime, not {bounds.shown(value)}")


def priority(what: str, value: Any, error: type[Exception] = ValueError) -> int:
    return bounds.integer(value, what, low=0, high=MAX_PRIORITY, error=error,
                          type_error=TypeError if error is ValueError else error)


def _flag(name: str, value: Any, what: str) -> bool:
    """True or False: 1, "no" or NaN would be taken by their truth, which is seldom what was meant."""
    if not isinstance(value, bool):
        raise TypeError(f"{name}: {what} must be True or False, not {bounds.shown(value)}")
    return value


def _headers(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise TypeError(f"{name}: headers must be a dict with string keys, not {value!r}")
    return dict(value)


def _callbacks(name: str, value: Any, what: str) -> tuple[Any, ...]:
    """One signature or several (a list or tuple): the workflow.Steps to send after the task. Told
    apart by shape, not class: workflow.py builds on this module, so it cannot be imported here."""
    items = value if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if not (hasattr(item, "to_dict") and isinstance(getattr(item, "task", None), str)):
            raise TypeError(f"{name}: {what} must be a signature like log.s() or a list of them, not {item!r}")
    return tuple(items)


def _text(name: str, value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: {what} must be a non-empty string, not {value!r}")
    return value


def _unique_key(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: unique_key must be a non-empty string, not {value!r}")
    return value


@dataclass(frozen=True)
class Field:
    check: Callable[[str, Any], Any]  # (task name, value as given) -> value to keep; raises naming it
    signature: bool = True  # a signature (a workflow step) may carry it


FIELDS: dict[str, Field] = {
    "countdown": Field(lambda n, v: _seconds(n, v, "countdown")),
    "eta": Field(aware_time),
    "expires": Field(expiry_value),
    "queue": Field(lambda n, v: check_name(f"queue for {n}", v, ValueError)),
    "priority": Field(lambda n, v: priority(f"{n}: priority", v)),
    "task_id": Field(lambda n, v: check_name(f"task_id for {n}", v, ValueError), signature=False),
    "ignore_result": Field(lambda n, v: _flag(n, v, "ignore_result")),
    "serializer": Field(lambda n, v: check_name(f"serializer for {n}", v, ValueError), signature=False),
    "time_limit": Field(lambda n, v: _seconds(n, v, "time_limit", positive=True)),
    "soft_time_limit": Field(lambda n, v: _seconds(n, v, "soft_time_limit", positive=True)),
    "unique_key": Field(_unique_key, signature=False),
    "spread_key": Field(lambda n, v: _text(n, v, "spread_key")),
    "unique_for": Field(lambda n, v: _seconds(n, v, "unique_for", positive=True), signature=False),
    "on_commit": Field(lambda n, v: _flag(n, v, "on_commit"), signature=False),
    "outbox": Field(lambda n, v: _flag(n, v, "outbox"), signature=False),
    "using": Field(lambda n, v: check_name(f"using for {n}", v, ValueError), signature=False),
    "headers": Field(_headers),
    "link": Field(lambda n, v: _callbacks(n, v, "link")),
    "link_error": Field(lambda n, v: _callbacks(n, v, "link_error")),
}


@dataclass(frozen=True, slots=True)
class CallOptions:
    """The options of one call, checked (see FIELDS). None: not given, so a later source decides."""

    countdown: float | None = None
    eta: dt.datetime | None = None
    expires: float | dt.datetime | None = None
    queue: str | None = None
    priority: int | None = None
    task_id: str | None = None
    ignore_result: bool | None = None
    serializer: str | None = None
    time_limit: float | None = None
    soft_time_limit: float | None = None
    unique_key: str | None = None
    unique_for: float | None = None
    #: Which part of a spread queue (JOBS["QUEUE_SPREAD"]) it goes to: the same key, the same part.
    spread_key: str | None = None
    on_commit: bool | None = None
    #: Through the outbox (JOBS["OUTBOX"] for this call), and the database alias of the transaction
    #: to write it in (None: the one the caller is in).
    outbox: bool | None = None
    using: str | None = None
    #: Data of the caller's own that travels with the call (a trace id, a tenant), read in the task
    #: as self.request.headers, as in Celery.
    headers: dict[str, Any] | None = None
    #: workflow.Steps sent when the task succeeds (its result put in front of their arguments), or
    #: when it fails (link_error), in the step that acknowledges it (worker/followup.py).
    link: tuple[Any, ...] | None = None
    link_error: tuple[Any, ...] | None = None

    @classmethod
    def parse(cls, name: str, given: Mapping[str, Any], signature: bool = False) -> CallOptions:
        """Check what a caller passed; a keyword that is no option is a TypeError listing them."""
        if not given:
            return NO_OPTIONS
        allowed = {k: f for k, f in FIELDS.items() if f.signature or not signature}
        unknown = sorted(set(given) - set(allowed))
        if unknown:
            what = "signature of" if signature else "apply_async of"
            raise TypeError(f"{what} {name}: unknown option(s) {unknown}; known: {sorted(allowed)}")
        values = {key: allowed[key].check(name, value) for key, value in given.items() if value is not None}
        if values.get("countdown") is not None and values.get("eta") is not None:
            raise ValueError(f"{name}: give countdown or eta, not both")
        return cls(**values)

    def merge(self, other: CallOptions) -> CallOptions:
        """These options, with those `other` sets put over them."""
        return dataclasses.replace(self, **other.given())

    def given(self) -> dict[str, Any]:
        """The options that are set, as keywords (and, for a signature, as carried in a message)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}


NO_OPTIONS = CallOptions()
