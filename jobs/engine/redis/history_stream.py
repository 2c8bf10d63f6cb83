"""The history stream: every outcome, appended by the scripts that settle tasks (lib/history.lua),
read by the workers' recorders as a consumer group and deleted once in the database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.exceptions import ResponseError

from .part import Part
from .specs.operating import (
    HISTORY_CLAIM,
    HISTORY_DONE,
    HISTORY_DROPPED,
    HISTORY_SWEEP,
    LEAD,
    HistoryClaimArgs,
    HistoryClaimKeys,
    HistoryDoneArgs,
    HistoryDroppedKeys,
    HistoryKeys,
    HistorySweepArgs,
    LeadArgs,
    LeadKeys,
    NoArgs,
)

#: The consumer group the workers' recorders read the history stream as (history.py).
HISTORY_GROUP = "recorders"


def _entries(raw: list[Any]) -> list[tuple[bytes, bytes, bytes]]:
    """Stream entries [id, [field, value]] as (id, field, value); those deleted meanwhile are None."""
    return [(item[0], item[1][0], item[1][1]) for item in raw if item is not None and item[1]]


class HistoryStream(Part):
    """broker.history: read(), claim(), done(), dropped(), waiting(), sweep(), prune_turn()."""


    def read(self, consumer: str, count: int, block_ms: int) -> list[tuple[bytes, bytes, bytes]]:
        """Up to `count` new history records (id, field, value) for this recorder, waiting up to
        block_ms for the first (a blocking read: no polling). The group is made on first use, and
        again after a Redis that lost it (a restart without persistence)."""
        args = ("XREADGROUP", "GROUP", HISTORY_GROUP, consumer, "COUNT", count, "BLOCK", block_ms,
                "STREAMS", self.b.keys.history, ">")
        try:
            reply = self.b.wait_link().call(*args, blocking=True)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self._group()
            reply = self.b.wait_link().call(*args, blocking=True)
        return _entries(reply[0][1]) if reply else []

    def claim(self, consumer: str, idle_ms: int, dead_ms: int, count: int) -> list[tuple[bytes, bytes, bytes]]:
        """Records other recorders read and did not finish: those of a worker that is gone (no
        heartbeat for dead_ms), and any read over idle_ms ago (lua/history_claim.lua)."""
        keys = HistoryClaimKeys(history=self.b.keys.history, workers=self.b.keys.workers)
        argv = HistoryClaimArgs(group=HISTORY_GROUP, consumer=consumer, idle_ms=idle_ms, dead_ms=dead_ms, limit=count)
        reply = HISTORY_CLAIM(self.b.link, keys, argv)
        return _entries(reply)

    def _group(self) -> None:
        try:
            self.b.link.call("XGROUP", "CREATE", self.b.keys.history, HISTORY_GROUP, "0", "MKSTREAM")
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):  # another recorder made it first
                raise

    def done(self, ids: Sequence[bytes]) -> None:
        """Records now in the database leave the stream (lua/history_done.lua)."""
        if ids:
            argv = HistoryDoneArgs(group=HISTORY_GROUP, ids=ids)
            HISTORY_DONE(self.b.link, HistoryKeys(history=self.b.keys.history), argv)

    def dropped(self) -> dict[str, int]:
        """Outcomes not recorded (backlog full) since the last call, by kind: success, other."""
        flat = HISTORY_DROPPED(self.b.link, HistoryDroppedKeys(history_dropped=self.b.keys.history_dropped), NoArgs())
        return {flat[i].decode(): int(flat[i + 1]) for i in range(0, len(flat), 2)}

    def waiting(self) -> tuple[int, dict[str, int]]:
        """(records waiting for the database, outcomes dropped and not yet reported), to show."""
        k = self.b.keys
        length, dropped = self.b.link.pipeline([("XLEN", k.history), ("HGETALL", k.history_dropped)])
        counts = {dropped[i].decode(): int(dropped[i + 1]) for i in range(0, len(dropped), 2)}
        return int(length), counts

    def sweep(self, consumer: str = "", idle_ms: int | None = None) -> int:
        """Remove this recorder from the group (it stops), and those idle for idle_ms, if they hold
        no records (lua/history_sweep.lua)."""
        argv = HistorySweepArgs(group=HISTORY_GROUP, consumer=consumer, idle_ms="" if idle_ms is None else idle_ms)
        return int(HISTORY_SWEEP(self.b.link, HistoryKeys(history=self.b.keys.history), argv))

    def prune_turn(self, consumer: str, lease_ms: int) -> bool:
        """Whether this recorder prunes old rows now (one at a time; lua/lead.lua)."""
        argv = LeadArgs(holder=consumer, lease_ms=lease_ms)
        return int(LEAD(self.b.link, LeadKeys(role=self.b.keys.history_prune), argv)) == 0
