"""Pauses between attempts while Redis fails, for every loop that talks to it (consumers, the
supervisor, beat): 0.1 s doubling to 10 s, one log line when calls start failing and one when they
work again, not one per attempt."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

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
