"""Pauses between attempts while Redis fails, for every loop that talks to it (consumers, the
supervisor, beat): 0.1 s doubling to 10 s, one log line when calls start failing and one when they
work again, not one per attempt. A single call that may be repeated (with_retry) is tried until a
deadline, 50 ms doubling to 1 s between, then said to have failed (BrokerUnavailable)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ..errors import BrokerUnavailable
from .connection import TRANSIENT
from .replicas import ReplicasBehind
from .tls import tls_failure

logger = logging.getLogger("jobs.worker")


class Backoff:
    def __init__(self, what: str, log: logging.Logger = logger) -> None:
        self.what = what
        self.log = log
        self.pause = 0.0
        self.since = 0.0

    def failed(self, exc: BaseException, stopping: Callable[[], bool] | None = None) -> None:
        if not self.pause:
            self.since = time.monotonic()
            self.log.error("%s: Redis call failed (%s: %s); retrying with backoff", self.what,
                           type(exc).__name__, exc)
        self.pause = min(max(self.pause * 2, 0.1), 10.0)
        end = time.monotonic() + self.pause
        while time.monotonic() < end and not (stopping and stopping()):
            time.sleep(min(0.1, end - time.monotonic()))

    def ok(self) -> None:
        if self.pause:
            self.log.warning("%s: Redis works again after %.1fs", self.what, time.monotonic() - self.since)
            self.pause = 0.0


def with_retry(fn: Callable[[], Any], timeout: float, what: str) -> Any:
    """Call fn until it succeeds or `timeout` seconds have passed, with growing pauses, then raise
    BrokerUnavailable. Only for calls that are safe to repeat (idempotent). A TLS handshake refused
    (tls_failure) is raised at once: waiting would not change a certificate."""
    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        try:
            return fn()
        except TRANSIENT as exc:
            problem = tls_failure(exc)
            if problem:
                raise BrokerUnavailable(f"{what}: {problem}. Nothing was done.") from exc
            left = deadline - time.monotonic()
            if left <= 0 and isinstance(exc, ReplicasBehind):
                raise BrokerUnavailable(
                    f"{what}: for {timeout:g} s, {exc}. Repeating the call is safe; check the replicas "
                    "(INFO replication) or lower JOBS['ENQUEUE_REPLICAS']."
                ) from exc
            if left <= 0:
                raise BrokerUnavailable(
                    f"{what}: Redis did not answer for {timeout:g} s ({exc}). Is it running, and is "
                    "JOBS['BROKER_URL'] right? Most likely nothing was done (unless Redis received "
                    "the call and only its answer was lost)."
                ) from exc
            time.sleep(min(pause, left))
            pause = min(pause * 2, 1.0)
