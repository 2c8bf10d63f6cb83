"""When to retry, as pure functions of numbers: testable without Redis, a worker or a clock.

The rules are Celery's, so settings carry over: an explicit countdown wins; else exponential backoff
if retry_backoff is set (factor × 2^retries, capped by retry_backoff_max, then "full jitter": a
random value between 0 and that, which spreads a thundering herd of retries); else
default_retry_delay. max_retries=None retries forever.
"""

from __future__ import annotations

import random


def may_retry(retries: int, max_retries: int | None) -> bool:
    """May a run that has already been retried `retries` times be retried once more?"""
    return max_retries is None or retries < max_retries


def backoff(retries: int, factor: float, maximum: float, jitter: bool,
            rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number `retries + 1`."""
    # 2.0 ** 1000 is finite and past any cap; 2 ** retries as an int would not fit a float after
    # 1,023 retries (max_retries=None retries forever), and OverflowError would fail the task.
    delay = float(min(maximum, factor * 2.0 ** min(retries, 1000)))
    if jitter:
        delay = (rng or random).uniform(0, delay)
    return max(0.0, delay)


def countdown(retries: int, *, explicit: float | None, retry_backoff: bool | float,
              retry_backoff_max: float, retry_jitter: bool, default_delay: float,
              rng: random.Random | None = None) -> float:
    if explicit is not None:
        return max(0.0, float(explicit))
    if retry_backoff:
        factor = 1.0 if retry_backoff is True else float(retry_backoff)
        return backoff(retries, factor, retry_backoff_max, retry_jitter, rng)
    return float(default_delay)
