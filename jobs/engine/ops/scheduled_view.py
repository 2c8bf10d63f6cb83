"""The scheduled set (countdowns, ETAs, retries) as an operator sees it: its messages soonest first,
and the exact members that carry given task ids, which the broker's actions on it take
(broker.scheduled.run and .delete move exact members, never "whatever has this id"). Part of the
monitor (monitor.Monitor), whose reads it shares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..redis.broker import Broker
from ..redis.reads import Reads
from ..wire.header import entry_id, parse_entry
from .rows import Held

if TYPE_CHECKING:
    from .merged_reads import AllReads

#: Messages read a round trip when looking for task ids in the scheduled set (from the soonest:
#: where a console's list starts; on to the end of the set if need be).
SCHEDULED_PAGE = 1000


class ScheduledView:
    """Monitor's reads of the scheduled set."""

    brokers: list[Broker]
    reads: Reads | AllReads

    def scheduled(self, limit: int = 100, offset: int = 0) -> list[Held]:
        """Messages waiting for their time (countdown, ETA, retry), soonest first, from `offset`:
        one round trip."""
        due, now = self.reads.scheduled(offset, limit)
        out = []
        for member, at in due:
            _, queue, wire = parse_entry(member)
            out.append(Held.read(wire, queue, "", (at - now * 1000) / 1000, member=member, due=at))
        return out

    def scheduled_count(self) -> int:
        return sum(b.scheduled.count() for b in self.brokers)

    def scheduled_extent(self) -> tuple[int, float]:
        """How many messages are scheduled and when the last is due (unix ms; 0 if none): what a
        whole-set action covers (control.sweep_scheduled). One round trip."""
        return self.reads.extent()

    def scheduled_due_by(self, upto: float, limit: int) -> list[bytes]:
        """The soonest `limit` members due at `upto` (unix ms) or before: one round trip."""
        return self.reads.due_by(upto, limit)

    def scheduled_members(self, task_ids: Sequence[str], due: Mapping[str, float] | None = None) -> list[bytes]:
        """The members of the scheduled set that carry these task ids, for broker.run_scheduled and
        delete_scheduled, which move exact members. An id given with its due time (the set's
        score, Held.due: a console's rows carry it) is looked for at that score alone, all of them
        in one round trip; not there, it has gone (a member's score never changes: promoted, run or
        deleted meanwhile). The others are looked for in the whole set, SCHEDULED_PAGE a round trip
        from the soonest, until every one is found: ids from the first pages of a list cost a round
        trip or two, an id no longer there a read of the whole set. The set is walked by score,
        not by rank, so messages promoted from its head meanwhile cannot make it skip one."""
        wanted = set(task_ids)
        found: list[bytes] = []

        def take(members: Sequence[bytes]) -> None:
            for member in members:
                task_id = entry_id(member)
                if task_id in wanted:
                    found.append(member)
                    wanted.discard(task_id)

        hinted = [(task_id, due[task_id]) for task_id in task_ids if due and task_id in due]
        if hinted:
            for members in self.reads.at_scores([at for _, at in hinted]):
                take(members)
            wanted -= {task_id for task_id, _ in hinted}
        low, skip = "-inf", 0  # from this score, past the `skip` members at it already read
        while wanted:
            page = self.reads.from_score(low, skip, SCHEDULED_PAGE)
            take([member for member, _ in page])
            if len(page) < SCHEDULED_PAGE:
                break
            last = repr(page[-1][1])
            at_last = sum(1 for _, score in page if repr(score) == last)
            skip = skip + at_last if last == low else at_last
            low = last
        return found
