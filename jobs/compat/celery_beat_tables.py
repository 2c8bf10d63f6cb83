"""django-celery-beat's tables, read with plain SQL for the import (celery_beat_import.py): once
`django_celery_beat` has left INSTALLED_APPS there are no models to read them with, and each version of
it had other columns, so only the columns the database has are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connections

PREFIX = "django_celery_beat_"
KINDS = ("interval", "crontab", "clocked", "solar")


class CannotImport(Exception):
    """Nothing can be imported from this database: the message says why."""


@dataclass
class Source:
    """django-celery-beat's rows, each a dict by column; schedules by id."""

    tasks: list[dict[str, Any]]
    schedules: dict[str, dict[Any, dict[str, Any]]]


def read(using: str) -> Source:
    """Every row of django-celery-beat's tables in the database `using` (a table its version did not
    have reads as empty; a column it did not have is absent from the dicts)."""
    if using not in connections:
        raise CannotImport(f"there is no database {using!r} in DATABASES; there are: {', '.join(connections)}")
    connection = connections[using]
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
        if f"{PREFIX}periodictask" not in tables:
            raise CannotImport(f"there is no {PREFIX}periodictask table in the database {using!r} "
                               f"({connection.settings_dict.get('NAME')}): point --database at the database "
                               "django-celery-beat used")

        def rows(table: str) -> list[dict[str, Any]]:
            if table not in tables:
                return []
            columns = [c.name for c in connection.introspection.get_table_description(cursor, table)]
            quote = connection.ops.quote_name
            cursor.execute(f"SELECT {', '.join(map(quote, columns))} FROM {quote(table)} ORDER BY {quote('id')}")
            return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

        schedules = {kind: {row["id"]: row for row in rows(f"{PREFIX}{kind}schedule")} for kind in KINDS}
        return Source(tasks=rows(f"{PREFIX}periodictask"), schedules=schedules)
