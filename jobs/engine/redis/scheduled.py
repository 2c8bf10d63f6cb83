"""The scheduled set (countdowns, ETAs, retries), as operators act on it: send now, delete, count.
What becomes due moves by itself (maintain.lua, fetch.lua)."""

from __future__ import annotations

from collections.abc import Sequence

from . import scripts
from .part import Part


class Scheduled(Part):
    """broker.scheduled: run(), delete(), count()."""


    def run(self, members: Sequence[bytes]) -> int:
        """Send these scheduled messages now (lua/run_scheduled.lua): `members` as the scheduled set
        holds them (monitor.Monitor.scheduled_members). How many were still there and sent."""
        k = self.b.keys
        keys = [k.scheduled, k.idle, k.leases, k.inflight, k.revoked, k.workers, k.dead, k.dead_order, k.history,
                k.history_dropped]
        head = [k.queue_prefix, k.wake_prefix, k.idle_prefix, k.inbox_prefix, self.b.config.dead_letters_max,
                self.b.history_max, *self.b.ending]
        return sum(int(scripts.load("run_scheduled")(self.b.link, keys, [*head, *members[i:i + 500]]))
                   for i in range(0, len(members), 500))

    def delete(self, members: Sequence[bytes]) -> int:
        """Delete these scheduled messages (as purge does a queue's: no result is stored for them);
        how many were still there. One ZREM: nothing else moves with them."""
        return int(self.b.link.call("ZREM", self.b.keys.scheduled, *members)) if members else 0

    def count(self) -> int:
        return int(self.b.link.call("ZCARD", self.b.keys.scheduled))
