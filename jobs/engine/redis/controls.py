"""Controls: what operators do to the whole cluster through Redis (jobs.control, the console, the
CLI): revoke tasks, purge, pause and resume queues, ask one worker to stop.
"""

from __future__ import annotations

from collections.abc import Sequence

from .part import Part
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
        """Mark tasks revoked (see lua/revoke.lua)."""
        keys = RevokeKeys(revoked=self.b.keys.revoked, terminate=self.b.keys.terminate)
        return int(REVOKE(self.b.link, keys, RevokeArgs(terminate="1" if terminate else "0", ids=task_ids)))

    def purge(self, queue: str) -> int:
        """Delete the messages waiting on a queue (lua/purge.lua); how many there were."""
        return int(PURGE(self.b.link, PurgeKeys(queue=self.b.keys.queue(queue)), NoArgs()))

    def pause(self, queue: str) -> bool:
        """Stop every worker taking from `queue` (lua/pause.lua); False if it was paused already."""
        k = self.b.keys
        return bool(PAUSE(self.b.link, PauseKeys(paused=k.paused, idle_list=k.idle_list(queue)), QueueNameArgs(queue)))

    def resume(self, queue: str) -> bool:
        """Let workers take from `queue` again (lua/resume.lua); False if it was not paused."""
        k = self.b.keys
        keys = ResumeKeys(paused=k.paused, queue=k.queue(queue), wake=k.wake(queue))
        return bool(RESUME(self.b.link, keys, QueueNameArgs(queue)))

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
