"""python manage.py runbeat — send periodic tasks when they are due (see jobs/engine/beat.py).

Run it on as many hosts as you like: one leads at a time, the others take over within
BEAT_LEASE_SECONDS if it dies, and each run is sent once whoever leads.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from jobs.engine.api import Beat, ConfigurationError
from jobs.engine.api import app as engine_app
from jobs.engine.api import redact_url as redact
from jobs.stores.schedules_db import ScheduleDatabase, sync_settings

from .runworker import check_redis_or_refuse, configure_logging

logger = logging.getLogger("jobs.beat")


class Command(BaseCommand):
    help = "Send periodic tasks (schedules in the database, edited in the admin) when they are due."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("-l", "--loglevel", default=None,
                            help="Level of the 'jobs' logger (default: as LOGGING sets it, else INFO).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            app = engine_app.current()
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from exc
        configure_logging(options["loglevel"])
        check_redis_or_refuse(app, "beat")
        config = app.config
        self.stdout.write(f"jobs beat: broker {redact(config.broker_url)} (key prefix {config.key_prefix!r}), "
                          f"leader lease {config.beat_lease_seconds:g} s, default time zone {config.timezone}")
        self.stdout.flush()
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        self._sync(config.beat_schedule, stop)
        Beat(app, ScheduleDatabase(), lease_seconds=config.beat_lease_seconds).run(stop)

    def _sync(self, schedule: dict[str, Any], stop: threading.Event) -> None:
        """Sync JOBS['BEAT_SCHEDULE'] into the database; wait for a database that is not up yet."""
        pause = 1.0
        while not stop.is_set():
            try:
                sync_settings(schedule)
                if schedule:
                    logger.info("beat: %d periodic task(s) from JOBS['BEAT_SCHEDULE'] synced", len(schedule))
                return
            except ConfigurationError as exc:
                raise CommandError(str(exc)) from exc
            except DatabaseError as exc:
                if _tables_missing():
                    raise CommandError("the periodic task tables do not exist: run `python manage.py migrate` "
                                       "first") from exc
                logger.error("beat: the database is not reachable (%s); trying again in %gs", exc, pause)
                time.sleep(pause)
                pause = min(pause * 2, 30.0)


def _tables_missing() -> bool:
    from django.db import connection

    from jobs.models import PeriodicTask

    try:
        return PeriodicTask._meta.db_table not in connection.introspection.table_names()
    except DatabaseError:
        return False  # not reachable at all: wait for it
