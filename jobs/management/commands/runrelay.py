"""python manage.py runrelay — send what the outbox holds (JOBS["OUTBOX"]) that its writer did not.

Every worker relays already (engine/send/relay.py, in its recorder's process); this is for sites
that want the relay apart from their workers, or that have none running yet. One relay at a time
sends (a lease in Redis), whichever process it is in; the others wait their turn. `--once` sends
what is there and stops (a cron job, a deploy step, a test).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from jobs.engine.api import ConfigurationError, Relay
from jobs.engine.api import app as engine_app
from jobs.engine.api import redact_url as redact

from .runworker import check_redis_or_refuse, configure_logging


class Command(BaseCommand):
    help = "Send the outbox's messages left after their transaction committed (JOBS['OUTBOX'])."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true",
                            help="Send every committed row there now, whatever its age, and stop (no lease taken).")
        parser.add_argument("-l", "--loglevel", default=None,
                            help="Level of the 'jobs' logger (default: as LOGGING sets it, else INFO).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            app = engine_app.current()
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from exc
        store = app.outbox
        if store is None:
            raise CommandError("no outbox here: add 'jobs' to INSTALLED_APPS")
        configure_logging(options["loglevel"])
        check_redis_or_refuse(app, "relay")
        relay = Relay(app, store, f"relay@{socket.gethostname()}:{os.getpid()}")
        if options["once"]:
            sent = relay.sweep(older_than=float("inf"))
            self.stdout.write(f"jobs relay: {sent} message(s) sent from the outbox")
            return
        self.stdout.write(f"jobs relay: broker {redact(app.config.broker_url)} (key prefix {app.config.key_prefix!r})")
        self.stdout.flush()
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        relay.run(stop)
