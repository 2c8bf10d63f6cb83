"""The retry policy is arithmetic; checked without Redis or a clock."""

import random

import pytest

from jobs.engine.setup import retry


def test_may_retry_counts_against_max_retries():
    assert retry.may_retry(0, 3) and retry.may_retry(2, 3)
    assert not retry.may_retry(3, 3)
    assert retry.may_retry(10_000, None)  # forever


@pytest.mark.parametrize("retries, expected", [(0, 2), (1, 4), (3, 16), (9, 600), (50, 600)])
def test_exponential_backoff_is_capped(retries, expected):
    assert retry.backoff(retries, factor=2, maximum=600, jitter=False) == expected


def test_full_jitter_stays_between_zero_and_the_backoff():
    rng = random.Random(7)
    delays = [retry.backoff(4, 1, 600, True, rng) for _ in range(1000)]
    assert all(0 <= d <= 16 for d in delays) and max(delays) > 12 and min(delays) < 4


def test_an_explicit_countdown_wins_then_backoff_then_the_default():
    kw = dict(retry_backoff_max=600, retry_jitter=False, default_delay=180)
    assert retry.countdown(5, explicit=10, retry_backoff=2, **kw) == 10
    assert retry.countdown(2, explicit=None, retry_backoff=2, **kw) == 8
    assert retry.countdown(2, explicit=None, retry_backoff=True, **kw) == 4
    assert retry.countdown(2, explicit=None, retry_backoff=False, **kw) == 180
