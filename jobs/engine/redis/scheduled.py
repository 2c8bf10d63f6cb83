"""The scheduled set (countdowns, ETAs, retries), as operators act on it: send now, delete, count.
What becomes due moves by itself (maintain.lua, fetch.lua)."""

from __future__ import annotations

from collections.abc import Sequence

from .part import Part
from .specs.sending import RUN_SCHEDULED, RunScheduledArgs, RunScheduledKeys


class Scheduled(Part):
    """broker.scheduled: run(), delete(), count()."""


    def run(self, members: Sequence[bytes]) -> int:
        """Send these scheduled messages now (lua/run_scheduled.lua): `members` as the scheduled set
        holds them (monitor.Monitor.scheduled_members). How many were still there and sent."""
        k = self.b.keys
        keys = RunScheduledKeys(scheduled=k.scheduled, idle=k.idle, leases=k.leases, inflight=k.inflight,
                                revoked=k.revoked, workers=k.workers, dead=k.dead, dead_order=k.dead_order,
                                history=k.history, history_dropped=k.history_dropped)
        done = 0
        for i in range(0, len(members), 500):
            argv = RunScheduledArgs(queue_prefix=k.queue_prefix, wake_prefix=k.wake_prefix, idle_prefix=k.idle_prefix,
                                    inbox_prefix=k.inbox_prefix, dead_letters_max=self.b.config.dead_letters_max,
                                    history_backlog=self.b.history_max, result_ms=self.b.ttl_ms,
                                    result_prefix=k.result_prefix, done_prefix=k.done_prefix,
                                    members=members[i:i + 500])
            done += int(RUN_SCHEDULED(self.b.link, keys, argv))
        return done

    def delete(self, members: Sequence[bytes]) -> int:
        """Delete these scheduled messages (as purge does a queue's: no result is stored for them);
        how many were still there. One ZREM: nothing else moves with them."""
        return int(self.b.link.call("ZREM", self.b.keys.scheduled, *members)) if members else 0

    def count(self) -> int:
        return int(self.b.link.call("ZCARD", self.b.keys.scheduled))
