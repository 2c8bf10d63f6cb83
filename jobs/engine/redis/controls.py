"""Controls: what operators do to the whole cluster through Redis (jobs.control, the console, the
CLI): revoke tasks, purge, pause and resume queues, ask one worker to stop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .backoff import with_retry
from .part import Part
from .replicas import wait_ms
from .specs.operating import (
    PAUSE,
    PURGE,
    RESUME,
    REVOKE,
    SHUTDOWN,
    NoArgs,
    PauseKeys,
    PurgeKeys,
    QueueNameArgs,
    ResumeKeys,
    RevokeArgs,
    RevokeKeys,
    ShutdownArgs,
    ShutdownKeys,
)

#: A worker whose heartbeat is older than this (ms) is not asked to stop (monitor.ALIVE_SECONDS).
ALIVE_MS = 15_000


class Controls(Part):
    """broker.controls: revoke(), purge(), pause(), resume(), paused(), request_shutdown(), queue_length()."""


    def revoke(self, task_ids: Sequence[str], terminate: bool) -> int:
        """Mark tasks revoked (see lua/revoke.lua). Like pause and resume, a write that must not
        come back undone after a failover: durable as ENQUEUE_REPLICAS asks (replicas.py), and then
        retried as a send is until ENQUEUE_TIMEOUT (marking again is harmless)."""
        keys = RevokeKeys(revoked=self.b.keys.revoked, terminate=self.b.keys.terminate)
        argv = RevokeArgs(terminate="1" if terminate else "0", ids=task_ids)
        return int(self._durably(lambda n, ms: REVOKE.durably(self.b.link, keys, argv, n, ms), "revoke"))

    def _durably(self, call: Callable[[int, int], Any], what: str) -> Any:
        """call(replicas, wait_ms): once, or with ENQUEUE_REPLICAS, until they confirm it."""
        replicas, timeout = self.b.config.enqueue_replicas, self.b.config.enqueue_timeout
        if not replicas:
            return call(0, 0)
        return with_retry(lambda: call(replicas, wait_ms(timeout)), timeout, what)

    def purge(self, queue: str) -> int:
        """Delete the messages waiting on a queue (lua/purge.lua); how many there were."""
        return int(PURGE(self.b.link, PurgeKeys(queue=self.b.keys.queue(queue)), NoArgs()))

    def pause(self, queue: str) -> bool:
        """Stop every worker taking from `queue` (lua/pause.lua); False if it was paused already."""
        k = self.b.keys
        keys = PauseKeys(paused=k.paused, idle_list=k.idle_list(queue))
        return bool(self._durably(lambda n, ms: PAUSE.durably(self.b.link, keys, QueueNameArgs(queue), n, ms), "pause"))

    def resume(self, queue: str) -> bool:
        """Let workers take from `queue` again (lua/resume.lua); False if it was not paused."""
        k = self.b.keys
        keys = ResumeKeys(paused=k.paused, queue=k.queue(queue), wake=k.wake(queue))
        return bool(self._durably(lambda n, ms: RESUME.durably(self.b.link, keys, QueueNameArgs(queue), n, ms),
                                  "resume"))

    def paused(self) -> dict[str, float]:
        """Paused queue -> since when (unix time, s)."""
        raw = self.b.link.call("HGETALL", self.b.keys.paused)
        pairs = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2], strict=True)
        return {name.decode(): int(since) / 1000 for name, since in pairs}

    def request_shutdown(self, worker_id: str) -> bool:
        """Ask one worker to stop as on SIGTERM (lua/shutdown.lua); False if no live worker has that id."""
        k = self.b.keys
        keys = ShutdownKeys(workers=k.workers, shutdown=k.shutdown)
        return bool(SHUTDOWN(self.b.link, keys, ShutdownArgs(worker_id=worker_id, alive_ms=ALIVE_MS)))

    def queue_length(self, queue: str) -> int:
        return int(self.b.link.call("ZCARD", self.b.keys.queue(queue)))
