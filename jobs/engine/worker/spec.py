"""What a worker is asked to be: `runworker`'s options, as the supervisor and its parts read them.

Each option has one default and one check, its setting's (setup/config.py): from_config() takes the
flags a caller gives (None: not given) over JOBS, and checks them by the rule of that setting
(setup/number_settings.py NUMBERS, bounds.py), so a bad flag is refused with the very error a bad setting gets.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from ..errors import ConfigurationError
from ..setup.config import Config
from ..wire.names import check_name


def _hostname() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class WorkerOptions:
    queues: list[str]
    concurrency: int
    pool: str
    prefetch: int
    shutdown_timeout: float
    #: Async tasks run at once per consumer (runner.py); 1 runs them one at a time, like any task.
    async_concurrency: int
    hostname: str = field(default_factory=_hostname)
    #: Touched on every turn of the supervisor's loop, whatever Redis does (health.py: liveness).
    healthcheck_file: str | None = None
    #: A shard's supervisor under the parent of shards.py: its signals come through it (shutdown.WARM).
    forwarded: bool = False

    @classmethod
    def from_config(cls, config: Config, *, queues: list[str] | None = None, concurrency: int | None = None,
                    pool: str | None = None, prefetch: int | None = None, async_concurrency: int | None = None,
                    shutdown_timeout: float | None = None, hostname: str | None = None,
                    healthcheck_file: str | None = None) -> WorkerOptions:
        """The options of a worker: each flag given (not None) over its JOBS setting, checked as
        that setting is; ConfigurationError for one that is not allowed."""
        flags = {"worker_concurrency": concurrency, "worker_pool": pool, "worker_prefetch": prefetch,
                 "worker_async_concurrency": async_concurrency, "worker_shutdown_timeout": shutdown_timeout}
        given = {name: value for name, value in flags.items() if value is not None}
        c = config.replace(**given) if given else config  # the settings' own checks, on the flags too
        queues = [config.default_queue] if queues is None else queues
        for queue in queues:
            check_name("queue", queue)
        if c.worker_async_concurrency > 1 and c.worker_pool != "prefork":
            raise ConfigurationError(
                f"--async-concurrency {c.worker_async_concurrency} needs --pool prefork: a consumer whose async "
                "task blocks its event loop is ended and replaced, which only a child process can be")
        return cls(queues=list(queues), concurrency=c.worker_concurrency or os.cpu_count() or 1, pool=c.worker_pool,
                   prefetch=c.worker_prefetch, shutdown_timeout=c.worker_shutdown_timeout,
                   async_concurrency=c.worker_async_concurrency, hostname=hostname or _hostname(),
                   healthcheck_file=healthcheck_file)
