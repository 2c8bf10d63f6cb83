"""The worker: `runworker` parses its options and calls run()."""

from __future__ import annotations

import logging

from ..redis.connection import redact
from ..setup.app import App
from ..version import __version__
from . import shard_workers
from .spec import WorkerOptions

logger = logging.getLogger("jobs.worker")

__all__ = ["WorkerOptions", "banner", "run"]


def banner(app: App, options: WorkerOptions) -> str:
    config = app.config
    concurrency = 1 if options.pool == "solo" else options.concurrency
    tasks = list(app.registry)
    lines = [
        f"jobs {__version__} worker {options.hostname}",
        f"  broker    {redact(config.broker_url)} (key prefix {config.key_prefix!r})",
        f"  queues    {', '.join(options.queues)}  (in this order of precedence)",
        f"  pool      {options.pool}, concurrency {concurrency}, prefetch {options.prefetch}"
        + (f", async tasks {options.async_concurrency} at once per consumer" if options.async_concurrency > 1 else ""),
        f"  leases    {config.lease_seconds:g} s, renewed every {config.lease_seconds / 3:g} s; "
        f"shutdown timeout {options.shutdown_timeout:g} s",
        f"  tasks     {len(tasks)} registered",
    ]
    if config.shards > 1:
        each = shard_workers.shares(options, app.shards.spread(options.queues))
        lines.insert(3, "  shards    " + "; ".join(f"{shard}: {', '.join(o.queues)} (concurrency {o.concurrency})"
                                                   for shard, o in each.items()) + f" of {config.shards}")
    lines += [f"    . {name}" for name in tasks]
    return "\n".join(lines)


def run(app: App, options: WorkerOptions) -> None:
    """The worker: a supervisor (supervisor.py), or one per shard its queues map to (shard_workers.py)."""
    shard_workers.run(app, options)
