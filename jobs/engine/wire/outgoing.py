"""A message as it leaves a process, encoded once, and the outbox that may hold it until its
transaction commits (JOBS["OUTBOX"], send/producer.py; the Django side's OutboxDatabase stores it).

Why a form of its own: the outbox keeps the exact bytes the producer would have sent (its wire, and
what enqueue needs besides: queue, priority, due time, expiry, a unique lock, records), so that a
relay in another process, maybe minutes later, sends the very same message, never one built again
from settings that may have changed since. Values only, here: the engine has no database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from .message import Message

Records = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What broker.sends.enqueue takes of a message, with its wire made already (redis/sends.py reads
    these fields of a Message and of an Outgoing alike)."""

    id: str
    task: str
    queue: str
    score: int
    wire: str
    #: As Message.due() and Message.expiry() say them: '' (none), '+<ms>' (from when it reaches
    #: Redis), '<ms>' (a unix time).
    due_at: str
    expiry_at: str
    delayed: bool
    #: A unique task's lock and its life (Message.options.unique, unique_ms); None: not unique.
    unique: str | None = None
    unique_ms: int = 0
    #: (list key, entry) pairs pushed with it (the django.tasks backend's READY record).
    records: Records = ()
    #: When it was written (unix time, the writer's clock): a countdown still counts from then.
    created: float = 0.0

    @classmethod
    def of(cls, message: Message, wire: str, records: Records = ()) -> Outgoing:
        return cls(id=message.id, task=message.task, queue=message.queue, score=message.score, wire=wire,
                   due_at=message.due(), expiry_at=message.expiry(), delayed=message.delayed,
                   unique=message.options.unique, unique_ms=message.options.unique_ms, records=records,
                   created=time.time())

    def due(self) -> str:
        return self.due_at

    def expiry(self) -> str:
        return self.expiry_at

    def caught_up(self, now: float) -> Outgoing:
        """It as it is sent at `now`: a countdown or an expiry given as a delay ('+ms') counts from
        when it was written, not from when a relay got to it (by the clocks of the writer and the
        relay: a sweep is the rare path, and the usual one sends within milliseconds)."""
        elapsed = max(0, int((now - self.created) * 1000))
        if elapsed == 0 or not (self.due_at.startswith("+") or self.expiry_at.startswith("+")):
            return self
        return replace(self, due_at=_less(self.due_at, elapsed), expiry_at=_less(self.expiry_at, elapsed))


def _less(when: str, elapsed: int) -> str:
    return f"+{max(0, int(when[1:]) - elapsed)}" if when.startswith("+") else when


class OutboxStore(Protocol):
    """Where messages sent inside a database transaction wait until it commits: the Django side's
    (jobs/stores/outbox_db.py), in the caller's database and transaction."""

    def transaction(self, using: str | None) -> str | None:
        """The database alias of the caller's open transaction (`using` if given and in one), or
        None: not inside one, so there is nothing to wait for."""

    def add(self, alias: str, rows: Sequence[Outgoing]) -> None:
        """Write the rows in that transaction."""

    def after_commit(self, alias: str, fn: Callable[[], None]) -> None:
        """Run fn once that transaction commits (never if it rolls back)."""

    def sent(self, alias: str, ids: Sequence[str]) -> None:
        """Forget the rows of these message ids: they are in Redis."""

    def sweep(self, older_than: float, limit: int, send: Callable[[list[Outgoing]], list[str | None]]) -> int:
        """Hand the committed rows written before `older_than` (unix time), oldest first, to `send`
        (one reason each: None sent, else why it could not be), each row to one relay at a time,
        and forget those sent; how many it handed over."""

    def backlog(self) -> Backlog:
        """What waits to be sent, in every database the outbox is in."""

    def reset(self) -> None:
        """After a failed sweep: drop the connections, so the next one opens fresh ones."""


@dataclass(frozen=True, slots=True)
class Backlog:
    """The outbox as operators see it (metrics, health, the console)."""

    #: Rows waiting to be sent, and when the oldest was written (unix time; None: none waits).
    waiting: int
    oldest: float | None
    #: Rows set aside with their reason, never sent: Redis refused the message and its burial in the
    #: dead letters (where a refused message usually goes).
    dead: int
