"""A call run in a thread of its own while the test does something to it (holds its reply, moves its
keys), and what it ended with: its return value, or what it raised, for the test to assert on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Threaded:
    def __init__(self, call: Callable[[], Any]) -> None:
        self.done: list[Any] = []
        self.failed: list[BaseException] = []
        self._call = call
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            self.done.append(self._call())
        except BaseException as exc:  # noqa: BLE001 - reported by the test's thread
            self.failed.append(exc)

    def start(self) -> Threaded:
        self.thread.start()
        return self

    def join(self, timeout: float = 30) -> None:
        self.thread.join(timeout)
