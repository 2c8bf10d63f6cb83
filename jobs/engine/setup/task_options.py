"""The options @task takes, each with its check, run when the task is declared (TaskDefinition):
a wrong value fails at import, naming the task and the option, rather than in a worker later, and
an option @task does not know is a TypeError (send.task), so a typo is not silently ignored. Each
check takes (task name, option, value) and says what the option may be."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import bounds
from ..errors import ConfigurationError
from ..wire.names import check_name
from ..wire.options import expiry_value, priority
from .config import SERIALIZERS
from .ratelimit import interval_ms

#: The most retries a task may ask for (None: forever). Past it a count is a typo, not a policy.
MAX_RETRIES = 1_000_000

#: The most runs at once a concurrency limit may allow: each acquire reads every holder (lua/slot.lua).
MAX_CONCURRENCY = 10_000


def _seconds(name: str, key: str, value: Any, above: bool = True) -> float | None:
    """A duration option: None, or seconds (or a timedelta) in range (bounds.py)."""
    if value is None:
        return None
    return bounds.seconds(value, f"@task {name}: {key}", above=above, error=ConfigurationError,
                          type_error=ConfigurationError)


def _positive_seconds(name: str, key: str, value: Any) -> None:
    _seconds(name, key, value)


def _queue(name: str, key: str, value: Any) -> None:
    if value is not None:
        check_name(f"queue of task {name}", value, ConfigurationError)


def _priority(name: str, key: str, value: Any) -> None:
    if value is not None:
        priority(f"@task {name}: priority", value, ConfigurationError)


def _rate_limit(name: str, key: str, value: Any) -> None:
    if value is not None:
        interval_ms(value, f"@task {name}: rate_limit")


def _concurrency(name: str, key: str, value: Any) -> None:
    if value is not None:
        bounds.integer(value, f"@task {name}: concurrency (runs at once, across all workers)", low=1,
                       high=MAX_CONCURRENCY, error=ConfigurationError, type_error=ConfigurationError)


def _callable(name: str, key: str, value: Any) -> None:
    if value is not None and not callable(value):
        raise ConfigurationError(f"@task {name}: {key} must be a callable taking the task's arguments, not "
                                 f"{bounds.shown(value)}")


def _expires(name: str, key: str, value: Any) -> None:
    if value is not None:
        expiry_value(name, value, ConfigurationError)


def _retries(name: str, key: str, value: Any) -> None:
    if value is not None:
        bounds.integer(value, f"@task {name}: {key} (None: forever)", low=0, high=MAX_RETRIES,
                       error=ConfigurationError, type_error=ConfigurationError)


def _delay(name: str, key: str, value: Any) -> None:
    _seconds(name, key, value, above=False)


def _backoff(name: str, key: str, value: Any) -> None:
    """True (a factor of 1 s), False (or 0: none), or a factor in seconds."""
    if not isinstance(value, bool):
        _seconds(name, f"{key} (True, False or a factor in seconds)", value, above=False)


def _retry_kwargs(name: str, key: str, value: Any) -> None:
    """What autoretry_for retries with: max_retries and countdown, checked as the options are. Any
    other key would be ignored by the worker, so it is refused rather than silently dropped."""
    if not isinstance(value, dict) or set(value) - {"max_retries", "countdown"}:
        raise ConfigurationError(f"@task {name}: retry_kwargs must be a dict of max_retries and/or countdown "
                                 f"(what automatic retries use), not {bounds.shown(value)}")
    _retries(name, "retry_kwargs['max_retries']", value.get("max_retries"))
    _delay(name, "retry_kwargs['countdown']", value.get("countdown"))


def _anything(name: str, key: str, value: Any) -> None:
    pass


def _flag(name: str, key: str, value: Any) -> None:
    """True, False, or None (the setting decides): 1, "no" or NaN would be taken by truth."""
    if value is not None and not isinstance(value, bool):
        raise ConfigurationError(f"@task {name}: {key} must be True or False, not {bounds.shown(value)}")


def _serializer(name: str, key: str, value: Any) -> None:
    if value is not None and value not in SERIALIZERS:
        raise ConfigurationError(f"@task {name}: serializer must be one of {', '.join(SERIALIZERS)}, "
                                 f"not {bounds.shown(value)}")


def _exceptions(name: str, key: str, value: Any) -> None:
    classes = value if isinstance(value, tuple) else (value,)
    if value is not None and not all(isinstance(c, type) and issubclass(c, BaseException) for c in classes):
        raise ConfigurationError(f"{name}: {key} must be an exception class or a tuple of them, not {value!r}")


#: The options @task takes, each with its check (task name, option, value); anything else is a
#: TypeError, so a typo is not silently ignored.
TASK_OPTIONS: dict[str, Callable[[str, str, Any], None]] = {
    "name": _anything, "queue": _queue, "priority": _priority, "ignore_result": _flag,
    "acks_late": _flag, "track_started": _flag, "serializer": _serializer, "expires": _expires,
    "bind": _flag, "base": _anything, "max_retries": _retries, "default_retry_delay": _delay,
    "autoretry_for": _exceptions, "retry_kwargs": _retry_kwargs, "retry_backoff": _backoff,
    "retry_backoff_max": _positive_seconds, "retry_jitter": _flag, "time_limit": _positive_seconds,
    "soft_time_limit": _positive_seconds, "reject_on_worker_lost": _flag, "unique_for": _positive_seconds,
    "rate_limit": _rate_limit, "rate_limit_key": _anything, "history": _flag, "throws": _exceptions,
    "typing": _flag, "concurrency": _concurrency, "concurrency_key": _callable,
    "resumable": _flag, "encrypt": _flag,
}
