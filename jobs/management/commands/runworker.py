"""python manage.py runworker -Q emails,default -c 4 [--pool prefork|threads|solo]"""

from __future__ import annotations

import ctypes
import logging
import signal
import subprocess
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from jobs.engine.api import ConfigurationError, TaskContextFilter, WorkerOptions
from jobs.engine.api import app as engine_app
from jobs.engine.api import run_worker as run
from jobs.engine.api import worker_banner as banner
from jobs.management import flags


class Command(BaseCommand):
    help = "Run a jobs worker: consume tasks from Redis queues in a pool of processes or threads."
    requires_system_checks: list[str] = []  # checked below, with a clearer exit

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("-Q", "--queues", default=None,
                            help="Comma-separated queues, in order of precedence "
                                 "(default: JOBS['DEFAULT_QUEUE']).")
        parser.add_argument("-c", "--concurrency", type=flags.like_setting("worker_concurrency"), default=None,
                            help="Number of consumer processes/threads "
                                 "(default: JOBS['WORKER_CONCURRENCY'] or the CPU count). With queues on several "
                                 "shards (JOBS['SHARDS']), shared among one supervisor per shard, each at least 1.")
        parser.add_argument("-P", "--pool", choices=["prefork", "threads", "solo"], default=None,
                            help="prefork (default): processes; threads: for I/O-bound tasks; "
                                 "solo: one, in this process.")
        parser.add_argument("--prefetch", type=flags.like_setting("worker_prefetch"), default=None,
                            help="At most this many extra tasks each consumer takes ahead while its tasks are short; "
                                 "what waits behind a task that runs long goes back to its queue (default 16; "
                                 "0: take a task only when free).")
        parser.add_argument("--async-concurrency", type=flags.like_setting("worker_async_concurrency"),
                            default=None,
                            help="Async tasks each consumer runs at once on its event loop (default: "
                                 "JOBS['WORKER_ASYNC_CONCURRENCY'], 1). Above 1 needs the prefork pool.")
        parser.add_argument("--shutdown-timeout", type=flags.like_setting("worker_shutdown_timeout"), default=None,
                            help="Seconds running tasks get to finish on SIGTERM before they are handed back "
                                 "(default 30).")
        parser.add_argument("-n", "--hostname", default=None, help="Name of this worker in logs and status.")
        parser.add_argument("--healthcheck-file", default=None, metavar="PATH",
                            help="Touched every second while the worker's supervisor runs, whether or not Redis "
                                 "answers: a liveness probe checks its age (docs/operations.md).")
        parser.add_argument("-B", "--beat", action="store_true",
                            help="Also run beat (periodic tasks) beside the worker: for development.")
        parser.add_argument("-l", "--loglevel", default=None,
                            help="Level of the 'jobs' logger (default: as LOGGING sets it, else INFO).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            app = engine_app.current()
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from exc
        queues = options["queues"]
        try:
            worker_options = WorkerOptions.from_config(
                app.config, queues=[q.strip() for q in queues.split(",") if q.strip()] if queues else None,
                concurrency=options["concurrency"], pool=options["pool"], prefetch=options["prefetch"],
                async_concurrency=options["async_concurrency"], shutdown_timeout=options["shutdown_timeout"],
                hostname=_hostname(options["hostname"]) if options["hostname"] else None,
                healthcheck_file=options["healthcheck_file"])
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from exc
        configure_logging(options["loglevel"])
        check_redis_or_refuse(app, "worker")  # the history's table is checked by its recorder (jobs/apps.py)
        self.stdout.write(banner(app, worker_options))
        self.stdout.flush()
        beat = self._start_beat(options) if options["beat"] else None
        try:
            run(app, worker_options)
        finally:
            if beat is not None:
                beat.terminate()
                try:
                    beat.wait(30)
                except subprocess.TimeoutExpired:
                    beat.kill()
                    beat.wait()

    def _start_beat(self, options: dict[str, Any]) -> subprocess.Popen[bytes]:
        logging.getLogger("jobs.worker").warning(
            "-B runs beat beside this worker, for development. In production run `manage.py runbeat` on its "
            "own (on one host or several: one leads at a time), so that restarting workers does not stop beat.")
        command = [sys.executable, sys.argv[0], "runbeat"]
        if options["loglevel"]:
            command += ["-l", options["loglevel"]]
        for name in ("settings", "pythonpath"):
            if options.get(name):
                command += [f"--{name}", options[name]]
        return subprocess.Popen(command, preexec_fn=_die_with_parent)


def _hostname(name: str) -> str:
    """-n goes into every history row (TaskResult.worker): refused here if it cannot be stored there as given."""
    from jobs.models import TaskResult

    longest = TaskResult._meta.get_field("worker").max_length or 255
    if len(name) > longest:
        raise CommandError(f"-n/--hostname is {len(name)} characters long: give at most {longest} (the task history "
                           "stores it in every task's row)")
    if not name.isprintable():
        raise CommandError(f"-n/--hostname {name!r} holds a character that cannot be printed: give a printable name")
    return name


def check_redis_or_refuse(app: Any, who: str) -> None:
    """A Redis that may evict keys would lose tasks silently: refuse to start on one (unless
    JOBS['ALLOW_EVICTION']), and warn about one that keeps nothing on disk. A Redis that cannot be
    reached now is the worker's to wait for (it retries), not a reason to refuse; a TLS handshake
    refused is (a certificate does not change by waiting)."""
    from jobs import inspection
    from jobs.engine.api import TRANSIENT
    from jobs.engine.api import redact_url as redact

    log = logging.getLogger("jobs.worker" if who == "worker" else "jobs.beat")
    try:
        found = inspection.setup_findings(app.config.allow_eviction)
    except TRANSIENT as exc:
        problem = inspection.tls_problem(exc)
        if problem:
            raise CommandError(f"Redis at {redact(app.config.broker_url)}: {problem}.\n"
                               f"The {who} does not start (see docs/operations.md, TLS).") from exc
        log.warning("could not check the Redis setup (%s); starting anyway", exc)
        return
    for finding in found:
        if finding.level == "error":
            raise CommandError(f"{finding.message}\n{finding.hint}\nThe {who} does not start on it.")
        log.warning("%s %s", finding.message, finding.hint)


def _die_with_parent() -> None:
    """In the beat child, before exec: on Linux, get SIGTERM when the worker dies, even by kill -9,
    so that no beat is left running on its own (it would go on leading)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the beat outlives a killed worker, as a separate runbeat would


def configure_logging(level: str | None) -> None:
    """Give the 'jobs' logger (and django.tasks') a console handler unless LOGGING already gave it
    (or root) one.
    An explicit -l wins over LOGGING's level: it is what the operator asked for just now."""
    logger = logging.getLogger("jobs")
    if logger.handlers or logging.getLogger().handlers:
        if level:
            logger.setLevel(level.upper())
        elif logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
        return
    level = level or "INFO"
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(TaskContextFilter())
    handler.setFormatter(logging.Formatter(
        "[%(asctime)s: %(levelname)s/%(processName)s %(process)d]%(task_label)s %(message)s"))
    # django.tasks' own receivers log the start and end of its tasks (jobs.backend leaves those lines
    # to them): on the worker's console too, rather than only in an email to ADMINS when DEBUG is off.
    for name in ("jobs", "django.tasks", "django_tasks"):
        each = logging.getLogger(name)
        each.addHandler(handler)
        each.setLevel(level.upper())
        each.propagate = False
