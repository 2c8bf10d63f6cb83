"""The Django side starts here: settings are wired to the engine, tasks.py modules are imported."""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.apps import AppConfig
from django.core.signals import setting_changed
from django.db import close_old_connections, connections, transaction
from django.db.backends.signals import connection_created
from django.utils.module_loading import autodiscover_modules


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the system checks
        from .conf import load
        from .engine.api import app as engine_app

        engine_app.configure(load, on_commit=transaction.on_commit, wrap_coroutine=_fresh_connections,
                             history_store=_history_store, outbox_store=_outbox_store)
        setting_changed.connect(_settings_changed, dispatch_uid="jobs.settings_changed")
        from . import mail, signals

        hooks = engine_app.hooks
        connection_created.connect(_connected, dispatch_uid="jobs.connected")
        hooks.connect("before_fork", _before_fork)
        hooks.connect("task_prerun", _around_task)
        hooks.connect("task_postrun", _around_task)
        hooks.connect("task_failure", mail.on_failure)
        signals.connect_to(hooks)
        _watch_schedules()
        autodiscover_modules("tasks")


def _fresh_connections(coro: Any) -> Any:
    """Around an async task: the async ORM keeps its connections in asgiref's sync thread, not in
    the consumer's, so close_old_connections (CONN_MAX_AGE, connections broken by a database
    restart) must run there, before and after, as it does around a sync task."""
    from asgiref.sync import sync_to_async

    async def run() -> Any:
        await sync_to_async(close_old_connections)()
        try:
            return await coro
        finally:
            await sync_to_async(close_old_connections)()

    return run()


def _history_store() -> Any:
    """Where the workers' recorders write the history: TaskResult (stores/history.py). Made by a recorder as
    its process starts, which checks the table there: a worker's supervisor never opens the database,
    so neither its start nor its first task waits for one (a PostgreSQL handshake, or a database that
    does not answer)."""
    from .stores.history import HistoryDatabase

    _check_history_table()
    return HistoryDatabase()


def _outbox_store() -> Any:
    """Where messages sent inside a transaction wait for its commit (JOBS["OUTBOX"]): OutboxMessage
    (stores/outbox_db.py). Made when first needed: a process that never uses the outbox never
    imports it."""
    from .stores.outbox_db import OutboxDatabase

    return OutboxDatabase()


def _check_history_table() -> None:
    """Its table must exist: say so when the recorder starts (not once per failed write), and what to
    do. The worker runs anyway: the history waits in Redis (bounded) until it can be written."""
    from django.db import DatabaseError, router

    from .models import TaskResult

    log = logging.getLogger("jobs.history")
    alias = router.db_for_write(TaskResult)
    try:
        tables = connections[alias].introspection.table_names()
    except DatabaseError as exc:
        log.warning("the database %r for the task history cannot be reached (%s); the history waits in Redis "
                    "until it can be written", alias, exc)
        return
    if TaskResult._meta.db_table not in tables:
        log.error("the task history is on (JOBS['HISTORY']) but its table %s does not exist in database %r: run "
                  "`manage.py migrate jobs`. Until then it waits in Redis (up to HISTORY_BACKLOG outcomes), or set "
                  "JOBS['HISTORY'] = False.", TaskResult._meta.db_table, alias)


def _settings_changed(setting: str, **kwargs: object) -> None:
    if setting in ("JOBS", "CACHES", "SECRET_KEY", "SECRET_KEY_FALLBACKS"):  # the last two: SIGNING_KEYS' default
        from .engine.api import app as engine_app

        engine_app.reset()


def _before_fork() -> None:
    # A database connection must never be shared by two processes: close before forking a child.
    connections.close_all()


#: Whether this thread ever opened a database connection (connection_created): Django's connections
#: are per thread, and a thread that never opened one has nothing for close_old_connections to close.
_opened = threading.local()


def _connected(sender: object, **kwargs: object) -> None:
    _opened.any = True


def _around_task(request: object, **_: object) -> None:
    # What Django does around a request: drop connections that are broken or past CONN_MAX_AGE.
    # Not in eager mode: the caller may be inside a transaction (a TestCase, ATOMIC_REQUESTS).
    # Not in a thread that never opened one: a task that does not use the database then costs
    # nothing here (close_old_connections looks up each alias in asgiref's Local: ~3 µs twice a task).
    if getattr(_opened, "any", False) and not getattr(request, "is_eager", False):
        close_old_connections()


def _watch_schedules() -> None:
    """Any save or delete of a periodic task or schedule bumps BeatVersion: beat reloads next tick."""
    from django.db.models.signals import post_delete, post_save

    from .models import BeatVersion, ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, Schedule

    def bump(sender: object, **kwargs: object) -> None:
        if not kwargs.get("raw"):  # not while loading fixtures
            BeatVersion.bump()

    for model in (PeriodicTask, Schedule, CrontabSchedule, IntervalSchedule, ClockedSchedule):
        post_save.connect(bump, sender=model, weak=False, dispatch_uid=f"jobs.beat.{model.__name__}.save")
        post_delete.connect(bump, sender=model, weak=False, dispatch_uid=f"jobs.beat.{model.__name__}.delete")
