"""What each numeric setting takes: seconds (a timedelta too) or a count, its range, and what None
means where it is allowed. One rule for every number (bounds.py), checked by Config as it is made
(setup/config.py), by `manage.py runworker`'s flags that override one (management/flags.py), and
fed odd values by tests/django/test_numbers.py, which also checks that no numeric Config field is
missing here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import bounds
from ..bounds import MAX_SECONDS, MAX_WAIT
from ..errors import ConfigurationError

#: A consumer holds at most 1 + this many messages: enough to amortise round trips, small enough
#: that a crash re-runs little.
MAX_PREFETCH = 1000
#: The most JOBS["MESSAGE_MAX_BYTES"] may be: the largest value Redis takes by default (proto-max-bulk-len).
MAX_MESSAGE_BYTES = 512 * 2**20
#: The longest JOBS["SEND_DEDUP_SECONDS"]: 30 days (each id remembered costs Redis ~135 bytes).
MAX_SEND_DEDUP = 30 * 86400.0
#: The most JOBS["SHARDS"] may be: each shard costs every worker that serves it a supervisor process.
MAX_SHARDS = 64


@dataclass(frozen=True)
class Number:
    """What a numeric setting takes (bounds.py): seconds (a timedelta too) or an int, from `low`
    (above: not `low` itself) to `high`; `none`: what None means ('' = None is refused)."""

    low: float
    high: float
    seconds: bool = True
    above: bool = False
    none: str = ""


def _count(low: int, high: int, none: str = "") -> Number:
    return Number(low, high, seconds=False, none=none)


#: Every numeric setting and what it takes; test_numbers.py checks that no numeric Config field is
#: missing here, and feeds each one odd values. Durations of what is kept (results, history,
#: limits) go up to bounds.MAX_SECONDS (ten years); waits of the machinery up to MAX_WAIT (a day).
NUMBERS: dict[str, Number] = {
    "result_expires": Number(0, MAX_SECONDS, above=True),
    "lease_seconds": Number(1, MAX_WAIT),
    "enqueue_timeout": Number(0, MAX_WAIT, above=True),
    "max_deliveries": _count(0, 1000),
    "dead_letters_max": _count(1, 100_000_000),
    "unknown_task_grace": Number(0, MAX_SECONDS),
    "time_limit": Number(0, MAX_SECONDS, above=True, none="no limit"),
    "soft_time_limit": Number(0, MAX_SECONDS, above=True, none="no limit"),
    "error_email_interval": Number(0, MAX_SECONDS),
    "beat_lease_seconds": Number(2, MAX_WAIT),
    "worker_concurrency": _count(1, 1024, none="the CPU count"),
    "worker_prefetch": _count(0, MAX_PREFETCH),
    "worker_give_back_after": Number(0, MAX_WAIT, above=True, none="never"),
    "worker_shutdown_timeout": Number(0, MAX_WAIT),
    "worker_async_concurrency": _count(1, 10_000),
    "stored_args_max": _count(64, 16 * 1024 * 1024),
    "history_keep": Number(0, MAX_SECONDS, above=True),
    "history_backlog": _count(100, 100_000_000),
    "message_max_bytes": _count(1024, MAX_MESSAGE_BYTES),
    "send_dedup_seconds": Number(0, MAX_SEND_DEDUP, above=True),
    "enqueue_replicas": _count(0, 100),
    "shards": _count(1, MAX_SHARDS),
}


def check_number(name: str, value: Any) -> Any:
    """A numeric setting's value as Config keeps it (seconds as a float), or ConfigurationError
    naming JOBS[NAME] and what it takes."""
    spec = NUMBERS[name]
    if value is None and spec.none:
        return None
    what = f"JOBS[{name.upper()!r}]"
    if spec.seconds:
        return bounds.seconds(value, what, low=spec.low, above=spec.above, high=spec.high,
                              error=ConfigurationError, type_error=ConfigurationError, none=spec.none)
    return bounds.integer(value, what, low=int(spec.low), high=int(spec.high), error=ConfigurationError,
                          type_error=ConfigurationError, none=spec.none)
