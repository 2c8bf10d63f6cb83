"""What a worker is asked to be: `runworker`'s options, as the supervisor and its parts read them."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field


@dataclass
class WorkerOptions:
    queues: list[str]
    concurrency: int
    pool: str = "prefork"
    prefetch: int = 16
    shutdown_timeout: float = 30.0
    #: Async tasks run at once per consumer (runner.py); 1 runs them one at a time, like any task.
    async_concurrency: int = 1
    hostname: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    #: Touched on every turn of the supervisor's loop, whatever Redis does (health.py: liveness).
    healthcheck_file: str | None = None
