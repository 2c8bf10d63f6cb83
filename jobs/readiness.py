"""The readiness checks (engine/ops/health.py) with what only the Django side knows: whether periodic
tasks are enabled (the database) and the settings. Shared by `manage.py jobs healthcheck` and the
`jobs/health` view, so both say the same."""

from __future__ import annotations

import time

from django.db import DatabaseError

from . import inspection
from .engine.api import Check, current, health, readiness
from .models import PeriodicTask


def check() -> list[Check]:
    app = current()
    try:
        periodic = PeriodicTask.objects.filter(enabled=True).exists()
        database = None
    except DatabaseError as exc:  # cannot tell whether beat is needed: say so, check the rest
        periodic, database = False, Check("database", False, f"the database cannot be read: {exc}")
    checks = readiness(inspection.monitor(), app.config.allow_eviction, periodic)
    if app.config.outbox and app.outbox is not None and database is None:
        try:
            checks.append(health.outbox(app.outbox.backlog(), time.time()))
        except DatabaseError as exc:
            database = Check("database", False, f"the outbox cannot be read: {exc}")
    return checks + ([database] if database is not None else [])
