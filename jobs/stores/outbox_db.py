"""The outbox's Django side: OutboxMessage rows, the engine's OutboxStore (engine wire/outgoing.py).

A message sent inside a transaction (JOBS["OUTBOX"], apply_async(outbox=True)) is a row written in
that very transaction, on the caller's connection: so it commits or rolls back with the caller's
data, whatever happens to the process after COMMIT. Which connection: `using` if the call names it,
else the one in an atomic block (the router's database for OutboxMessage, then the default, if
several are).

The relay reads rows in a transaction of its own, locking them: with SKIP LOCKED where the database
has it (PostgreSQL, MySQL 8, MariaDB 10.6), so two relays never hold the same row; elsewhere
(SQLite) one relay at a time is what Redis' lease gives (redis/relay_turn.py), and an id sent twice
is sent once anyway (lua/enqueue.lua).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, router, transaction
from django.db.models import Count, Min

from ..engine.api import Backlog, ConfigurationError, Outgoing
from ..models import OutboxMessage


class OutboxDatabase:
    """The OutboxStore of the Django side."""

    def transaction(self, using: str | None) -> str | None:
        if using is not None:
            if using not in settings.DATABASES:
                raise KeyError(using)
            return using if connections[using].in_atomic_block else None
        open_ = [c.alias for c in connections.all(initialized_only=True) if c.in_atomic_block]
        if len(open_) <= 1:
            return open_[0] if open_ else None
        for alias in (router.db_for_write(OutboxMessage), DEFAULT_DB_ALIAS):
            if alias in open_:
                return alias
        raise ConfigurationError(f"sent inside transactions on databases {sorted(open_)}: say which one the outbox "
                                 "row belongs to with apply_async(..., using='<alias>')")

    def add(self, alias: str, rows: Sequence[Outgoing]) -> None:
        OutboxMessage.objects.using(alias).bulk_create([_row(r) for r in rows])

    def after_commit(self, alias: str, fn: Callable[[], None]) -> None:
        transaction.on_commit(fn, using=alias)

    def sent(self, alias: str, ids: Sequence[str]) -> None:
        """One DELETE, in autocommit: the ORM's delete() wraps it in BEGIN and COMMIT, two more round
        trips on the fast path of every send (a third of its cost on PostgreSQL)."""
        table = connections[alias].ops.quote_name(OutboxMessage._meta.db_table)
        marks = ", ".join(["%s"] * len(ids))
        with connections[alias].cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE message_id IN ({marks})", list(ids))

    def sweep(self, older_than: float, limit: int, send: Callable[[list[Outgoing]], list[str | None]]) -> int:
        """Each database in turn: one that fails (away, read-only, not migrated) holds up none of the
        others; its error is raised once they are swept, so the relay logs it and pauses."""
        handed, failed = 0, None
        for alias in self.aliases():
            try:
                handed += self._sweep(alias, older_than, limit, send)
            except DatabaseError as exc:
                failed = failed or exc
        if failed is not None:
            raise failed
        return handed

    def _sweep(self, alias: str, older_than: float, limit: int,
               send: Callable[[list[Outgoing]], list[str | None]]) -> int:
        with transaction.atomic(using=alias):
            rows = OutboxMessage.objects.using(alias).filter(dead=False)
            if math.isfinite(older_than):  # MySQL takes no infinity (runrelay --once sends every row)
                rows = rows.filter(created__lt=older_than)
            if connections[alias].features.has_select_for_update_skip_locked:
                rows = rows.select_for_update(skip_locked=True)
            taken = list(rows.order_by("created")[:limit])
            if not taken:
                return 0
            reasons = send([_outgoing(row) for row in taken])
            done = [row.pk for row, reason in zip(taken, reasons, strict=True) if reason is None]
            OutboxMessage.objects.using(alias).filter(pk__in=done).delete()
            for row, reason in zip(taken, reasons, strict=True):
                if reason is not None:
                    OutboxMessage.objects.using(alias).filter(pk=row.pk).update(dead=True, reason=reason[:2000])
            return len(taken)

    def backlog(self) -> Backlog:
        waiting, dead, oldest = 0, 0, None
        for alias in self.aliases():
            rows = OutboxMessage.objects.using(alias)
            figures = rows.filter(dead=False).aggregate(n=Count("pk"), oldest=Min("created"))
            waiting += figures["n"]
            if figures["oldest"] is not None:
                oldest = figures["oldest"] if oldest is None else min(oldest, figures["oldest"])
            dead += rows.filter(dead=True).count()
        return Backlog(waiting=waiting, oldest=oldest, dead=dead)

    def aliases(self) -> list[str]:
        """The databases the outbox may be in: those its table is migrated to."""
        return [alias for alias in connections if router.allow_migrate_model(alias, OutboxMessage)]

    def reset(self) -> None:
        """After a failed sweep: drop the relay's connections, so the next sweep opens fresh ones."""
        for alias in self.aliases():
            try:
                connections[alias].close()
            except DatabaseError:
                pass


def _row(row: Outgoing) -> OutboxMessage:
    return OutboxMessage(message_id=row.id, task=row.task, queue=row.queue, score=row.score, wire=row.wire,
                         due=row.due_at, expiry=row.expiry_at, delayed=row.delayed, unique_key=row.unique or "",
                         unique_ms=row.unique_ms, records=json.dumps(row.records) if row.records else "",
                         created=row.created)


def _outgoing(row: OutboxMessage) -> Outgoing:
    records = tuple((key, entry) for key, entry in json.loads(row.records)) if row.records else ()
    return Outgoing(id=row.message_id, task=row.task, queue=row.queue, score=row.score, wire=row.wire,
                    due_at=row.due, expiry_at=row.expiry, delayed=row.delayed, unique=row.unique_key or None,
                    unique_ms=row.unique_ms, records=records, created=row.created)
