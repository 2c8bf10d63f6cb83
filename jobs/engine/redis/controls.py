"""Controls: what operators do to the whole cluster through Redis (jobs.control, the console, the
CLI): revoke tasks, purge, pause and resume queues, ask one worker to stop.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import scripts
from .part import Part

#: A worker whose heartbeat is older than this (ms) is not asked to stop (monitor.ALIVE_SECONDS).
ALIVE_MS = 15_000


class Controls(Part):
    """broker.controls: revoke(), purge(), pause(), resume(), paused(), request_shutdown(), queue_length()."""


    def revoke(self, task_ids: Sequence[str], terminate: bool) -> int:
        """Mark tasks revoked (see lua/revoke.lua)."""
        keys = [self.b.keys.revoked, self.b.keys.terminate]
        return int(scripts.load("revoke")(self.b.link, keys, ["1" if terminate else "0", *task_ids]))

    def purge(self, queue: str) -> int:
        """Delete the messages waiting on a queue (lua/purge.lua); how many there were."""
        return int(scripts.load("purge")(self.b.link, [self.b.keys.queue(queue)], []))

    def pause(self, queue: str) -> bool:
        """Stop every worker taking from `queue` (lua/pause.lua); False if it was paused already."""
        k = self.b.keys
        return bool(scripts.load("pause")(self.b.link, [k.paused, k.idle_list(queue)], [queue]))

    def resume(self, queue: str) -> bool:
        """Let workers take from `queue` again (lua/resume.lua); False if it was not paused."""
        k = self.b.keys
        return bool(scripts.load("resume")(self.b.link, [k.paused, k.queue(queue), k.wake(queue)], [queue]))

    def paused(self) -> dict[str, float]:
        """Paused queue -> since when (unix time, s)."""
        raw = self.b.link.call("HGETALL", self.b.keys.paused)
        pairs = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2], strict=True)
        return {name.decode(): int(since) / 1000 for name, since in pairs}

    def request_shutdown(self, worker_id: str) -> bool:
        """Ask one worker to stop as on SIGTERM (lua/shutdown.lua); False if no live worker has that id."""
        k = self.b.keys
        return bool(scripts.load("shutdown")(self.b.link, [k.workers, k.shutdown], [worker_id, ALIVE_MS]))

    def queue_length(self, queue: str) -> int:
        return int(self.b.link.call("ZCARD", self.b.keys.queue(queue)))
