"""The history's Django side: TaskResult rows, written in batches by the workers' recorders.

The engine reads the history from Redis and hands it here a batch at a time (engine/ops/records.py,
engine/worker/recorder.py). A batch is one statement run for all its rows in one transaction:

    INSERT ... ON CONFLICT (task_id) DO UPDATE SET ... WHERE row.stage <= new.stage

on PostgreSQL and SQLite, so that a record written twice (a recorder killed after its write) is one
row, and a record claimed late cannot undo a later one. Other databases get the same rule through
the ORM (a read of the batch's rows, then inserts and updates), slower; a concurrent insert of the
same task id fails that batch, which the recorder writes again.

What a batch holds is made storable first (engine/ops/records.clean cuts text to the columns'
max_length, `limits`). A batch refused for what it holds (a DataError or IntegrityError: `refused`)
is written again in halves by the recorder, down to the rows the database refuses; a connection
that fails (OperationalError, InterfaceError...) is an outage: the whole batch waits in Redis.

Pruning deletes rows older than HISTORY_KEEP a bounded batch at a time (by primary key, found
through the date index), each its own short transaction, so the table is never locked for long.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.db import DataError, IntegrityError, connections, router, transaction
from django.utils import timezone

from ..engine.api import Record
from ..models import TaskResult

#: The columns a record fills, in the order of the rows _upsert makes.
COLUMNS = ("task_id", "name", "status", "args", "kwargs", "args_complete", "result", "traceback", "queue", "worker",
           "retries", "date_enqueued", "date_started", "date_done", "runtime", "parent_id", "stage")
_DATES = frozenset({"date_enqueued", "date_started", "date_done"})


def _when(timestamp: float | None) -> dt.datetime | None:
    return None if timestamp is None else dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc)


def _dates(connection: Any) -> Callable[[float | None], Any]:
    """How a unix time becomes a DateTimeField parameter on this connection, as Django would store
    it, cheaply: the recorder converts three per row, and Django's general adapter costs more than
    the insert itself on SQLite."""
    if settings.USE_TZ and connection.vendor == "postgresql":
        return _when
    if settings.USE_TZ and connection.vendor == "sqlite" and connection.timezone_name == "UTC":
        return _SqliteUtcText()
    adapt = connection.ops.adapt_datetimefield_value

    def general(timestamp: float | None) -> Any:
        value = _when(timestamp)
        if value is not None and not settings.USE_TZ:
            value = timezone.make_naive(value, timezone.get_default_timezone())
        return adapt(value)
    return general


class _SqliteUtcText:
    """What Django writes for an aware datetime in SQLite (str() of the naive UTC time), from a unix
    time; the times of a batch fall in a few seconds, whose text is made once."""

    def __init__(self) -> None:
        self._seconds: dict[int, str] = {}

    def __call__(self, timestamp: float | None) -> str | None:
        if timestamp is None:
            return None
        micros = round(timestamp * 1_000_000)
        second, fraction = divmod(micros, 1_000_000)
        text = self._seconds.get(second)
        if text is None:
            if len(self._seconds) > 1000:
                self._seconds.clear()
            text = self._seconds[second] = dt.datetime.fromtimestamp(second, tz=dt.timezone.utc).strftime(
                "%Y-%m-%d %H:%M:%S")
        return f"{text}.{fraction:06d}" if fraction else text


class HistoryDatabase:
    """The HistoryStore (engine/wire/record.py) on the database TaskResult is routed to."""

    limits = {f.name: f.max_length for f in TaskResult._meta.concrete_fields if f.name in COLUMNS and f.max_length}

    @staticmethod
    def refused(exc: Exception) -> bool:
        """Refused for what the rows hold: the database said so (DataError: a value it cannot take;
        IntegrityError: a constraint), or the driver could not even send a value (sqlite3 raises
        OverflowError and UnicodeEncodeError for some, unwrapped)."""
        return isinstance(exc, (DataError, IntegrityError, ValueError, OverflowError))

    def __init__(self) -> None:
        self.alias = router.db_for_write(TaskResult)
        self._date: Callable[[float | None], Any] | None = None

    def store(self, records: Sequence[Record]) -> None:
        connection = connections[self.alias]
        if connection.vendor in ("postgresql", "sqlite"):
            self._upsert(records)
        else:
            self._orm(records)

    def _upsert(self, records: Sequence[Record]) -> None:
        connection = connections[self.alias]
        quote = connection.ops.quote_name
        table = quote(TaskResult._meta.db_table)
        names = ", ".join(quote(c) for c in COLUMNS)
        updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in COLUMNS if c != "task_id")
        sql = (f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
               f"ON CONFLICT ({quote('task_id')}) DO UPDATE SET {updates} "
               f"WHERE {table}.{quote('stage')} <= excluded.{quote('stage')}")
        date = self._date = self._date or _dates(connection)
        rows = [(r.task_id, r.name, r.status, r.args, r.kwargs, r.args_complete, r.result, r.traceback, r.queue,
                 r.worker, r.retries, date(r.date_enqueued), date(r.date_started), date(r.date_done), r.runtime,
                 r.parent_id, r.stage) for r in records]
        with transaction.atomic(using=self.alias), connection.cursor() as cursor:
            cursor.executemany(sql, rows)

    def _orm(self, records: Sequence[Record]) -> None:
        objects = TaskResult.objects.using(self.alias)
        with transaction.atomic(using=self.alias):
            ids = [r.task_id for r in records]
            known = {row.task_id: row for row in objects.select_for_update().filter(task_id__in=ids)}
            new, changed = [], []
            for record in records:
                values = self._values(record)
                row = known.get(record.task_id)
                if row is None:
                    new.append(TaskResult(**values))
                elif row.stage <= record.stage:
                    for name, value in values.items():
                        setattr(row, name, value)
                    changed.append(row)
            objects.bulk_create(new)
            if changed:
                objects.bulk_update(changed, [c for c in COLUMNS if c != "task_id"])

    @staticmethod
    def _values(record: Record) -> dict[str, Any]:
        values = {c: getattr(record, c) for c in COLUMNS}
        for c in _DATES:
            value = _when(values[c])
            values[c] = value if value is None or settings.USE_TZ else timezone.make_naive(value)
        return values

    def prune(self, before: float, batch: int) -> int:
        """Up to `batch` rows of tasks that ended before `before` (or started then and never ended)."""
        cutoff = _when(before)
        objects = TaskResult.objects.using(self.alias).order_by()
        ids = list(objects.filter(date_done__lt=cutoff).values_list("pk", flat=True)[:batch])
        if len(ids) < batch:
            ids += objects.filter(date_done__isnull=True, date_started__lt=cutoff).values_list(
                "pk", flat=True)[:batch - len(ids)]
        if ids:
            objects.filter(pk__in=ids).delete()
        return len(ids)

    def reset(self) -> None:
        try:
            connections[self.alias].close()
        except Exception:  # a connection already broken may fail to close: it is dropped either way
            pass
