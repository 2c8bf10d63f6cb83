"""python manage.py jobs status | dead list | dead show ID | dead requeue ID... | dead requeue --all | dead purge
| prune [--days N] | inspect active|scheduled|registered|workers [--json] | purge QUEUE [--yes] | pause QUEUE
| resume QUEUE | revoke ID...
[--terminate] | retry ID | healthcheck [--json] | import-celery-beat [--dry-run] [--database ALIAS]
| redis-acl [--user NAME]

The operator's command line: it parses, asks where something is deleted, and acts through
jobs.control as the console does; what it reads comes from jobs.inspection, printed by
management/reports.py. It never reaches the broker itself."""

from __future__ import annotations

import json
import secrets
import sys
import time
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from jobs import control, inspection
from jobs import readiness as health
from jobs.compat import celery_beat_import
from jobs.engine.api import TRANSIENT, JobsError, acl_setuser, bounds, check_name
from jobs.engine.api import app as engine_app
from jobs.engine.api import health as engine_health
from jobs.engine.api import redact_url as redact
from jobs.management import flags, reports
from jobs.stores.history import HistoryDatabase

#: The most rows a listing shows, and the most days `prune --days` keeps (bounds.MAX_SECONDS).
LIMIT_MAX = 1_000_000
DAYS_MAX = int(bounds.MAX_SECONDS // 86400)
#: The most history rows one delete of `prune` takes: one IN (...) list, under SQLite's 32,766 variables.
BATCH_MAX = 10_000


class Command(BaseCommand):
    help = "See and act on queues, workers and dead letters; prune the task history; check readiness."
    # An operator's tool must answer when something is wrong: `status` and `healthcheck` report the
    # Redis findings themselves (a system check error would stop the command before it says anything).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        sub.add_parser("status", help="Queues, scheduled and running tasks, workers, dead letters.")
        dead = sub.add_parser("dead", help="Messages that could not be run, kept with the reason.")
        actions = dead.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="Newest first.")
        listing.add_argument("--limit", type=flags.integer(1, LIMIT_MAX), default=50)
        show = actions.add_parser("show", help="One dead letter, with its message.")
        show.add_argument("id")
        requeue = actions.add_parser("requeue", help="Put dead letters back on their queues.")
        requeue.add_argument("ids", nargs="*")
        requeue.add_argument("--all", action="store_true", help="Every dead letter.")
        purge = actions.add_parser("purge", help="Delete every dead letter.")
        purge.add_argument("--yes", action="store_true", help="Do not ask.")
        prune = sub.add_parser("prune", help="Delete task history rows older than HISTORY_KEEP (or --days), in "
                                             "batches; the workers also do this by themselves.")
        prune.add_argument("--days", type=flags.real(0, DAYS_MAX, "a number of days"),
                           help=f"Keep this many days instead of HISTORY_KEEP (0 to {DAYS_MAX}).")
        prune.add_argument("--batch", type=flags.integer(1, BATCH_MAX), default=1000,
                           help=f"Rows per delete (each its own transaction; 1 to {BATCH_MAX}).")
        inspect = sub.add_parser("inspect", help="What the workers hold, what waits for its time, which tasks "
                                                 "each worker knows, the workers (Celery's `celery inspect`).")
        inspect.add_argument("which", choices=["active", "scheduled", "registered", "workers"])
        inspect.add_argument("--json", action="store_true", help="As JSON (docs/operations.md).")
        inspect.add_argument("--limit", type=flags.integer(1, LIMIT_MAX), default=100,
                             help="scheduled: the soonest this many.")
        purge_queue = sub.add_parser("purge", help="Delete every message waiting on a queue (running, scheduled "
                                                   "and dead ones stay).")
        purge_queue.add_argument("queue")
        purge_queue.add_argument("--yes", action="store_true", help="Do not ask.")
        for verb, text in (("pause", "Stop every worker taking from a queue until `resume` (its messages stay; "
                                     "senders and beat go on adding; running tasks finish)."),
                           ("resume", "Let workers take from a paused queue again.")):
            sub.add_parser(verb, help=text).add_argument("queue")
        revoke = sub.add_parser("revoke", help="Keep tasks from running; --terminate also stops running ones.")
        revoke.add_argument("ids", nargs="+")
        revoke.add_argument("--terminate", action="store_true")
        retry = sub.add_parser("retry", help="Send a task again with the arguments it was called with (from the "
                                             "history, else its result), as a new task.")
        retry.add_argument("id")
        health = sub.add_parser("healthcheck", help="Readiness: exit 0, or 1 with one line why (Redis reachable, "
                                                    "no eviction, a live worker for each queue with work, a beat "
                                                    "when periodic tasks are enabled).")
        health.add_argument("--json", action="store_true", help="The checks as JSON (docs/operations.md).")
        beat_import = sub.add_parser("import-celery-beat", help="Copy django-celery-beat's periodic tasks and their "
                                                                "schedules into jobs' (again: updates, never doubles).")
        beat_import.add_argument("--dry-run", action="store_true", help="Report what it would do; write nothing.")
        beat_import.add_argument("--database", default="default", help="Where django-celery-beat's tables are.")
        shards = sub.add_parser("shards", help="Each shard (JOBS['SHARDS']): its hash tag, its Cluster slot and "
                                               "the master that holds it; warns when two share a master.")
        shards.add_argument("--json", action="store_true", help="One JSON document.")
        acl = sub.add_parser("redis-acl", help="The ACL SETUSER line (for redis-cli) of a Redis user confined to "
                                               "jobs' keys, channels and commands, with a new random password.")
        acl.add_argument("--user", default="jobs", help="Its name (default: jobs).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["what"] == "import-celery-beat":  # the database only: no Redis needed
            self.import_celery_beat(options["database"], options["dry_run"])
            return
        if options["what"] == "redis-acl":  # printed, not run: no Redis needed
            self.redis_acl(options["user"])
            return
        app = engine_app.current()
        if options["what"] == "healthcheck":
            self.healthcheck(options["json"])
            return
        try:
            if options["what"] == "status":
                reports.status(app, self.stdout.write, self.stderr.write)
            elif options["what"] == "shards":
                self.shards(options["json"])
            elif options["what"] == "prune":
                self.prune(app, options["days"], options["batch"])
            elif options["what"] in ("inspect", "purge", "pause", "resume", "revoke", "retry"):
                getattr(self, f"control_{options['what']}")(**options)
            else:
                getattr(self, f"dead_{options['action']}")(**options)
        except TRANSIENT as exc:
            raise CommandError(f"Redis at {redact(app.config.broker_url)} did not answer: {exc}") from exc
        except JobsError as exc:  # a bad queue name, a task that cannot be sent again: said, not a traceback
            raise CommandError(str(exc)) from exc

    def control_inspect(self, which: str, limit: int, **options: Any) -> None:
        reads: dict[str, Callable[[], Any]] = {"active": control.active, "registered": control.registered,
                                               "workers": control.workers,
                                               "scheduled": lambda: control.scheduled(limit)}
        found = reads[which]()
        if options["json"]:
            self.stdout.write(json.dumps(found, indent=2))
            return
        reports.inspected(which, found, self.stdout.write)

    def control_purge(self, queue: str, yes: bool, **_: Any) -> None:
        check_name("queue", queue, JobsError)
        waiting = inspection.queue_length(queue)
        if not yes:
            if not sys.stdin.isatty():
                raise CommandError(f"purge deletes the {waiting} message(s) waiting on queue {queue}: pass --yes "
                                   "(no terminal to ask on)")
            if input(f"Delete the {waiting} message(s) waiting on queue {queue}? [y/N] ").strip().lower() != "y":
                self.stdout.write("Nothing deleted.")
                return
        self.stdout.write(f"Deleted {control.purge(queue)} message(s) from queue {queue}.")

    def control_pause(self, queue: str, **_: Any) -> None:
        if control.pause(queue):
            self.stdout.write(f"Queue {queue} paused: no worker takes from it until `jobs resume {queue}` "
                              f"({inspection.queue_length(queue)} waiting).")
        else:
            self.stdout.write(f"Queue {queue} was paused already.")

    def control_resume(self, queue: str, **_: Any) -> None:
        waiting = inspection.queue_length(queue)  # before: the workers start taking at once
        if control.resume(queue):
            self.stdout.write(f"Queue {queue} resumed ({waiting} waiting).")
        else:
            self.stdout.write(f"Queue {queue} was not paused.")

    def control_revoke(self, ids: list[str], terminate: bool, **_: Any) -> None:
        control.revoke(ids, terminate)
        how = "revoked, and stopped where running," if terminate else "revoked (not run if not started)"
        self.stdout.write(f"{len(ids)} task(s) {how}: {' '.join(ids)}")

    def control_retry(self, id: str, **_: Any) -> None:
        result = control.retry(id)
        self.stdout.write(f"Sent again as {result.task_name}[{result.id}] (its parent: {id}).")

    def import_celery_beat(self, database: str, dry_run: bool) -> None:
        """Each row's line, then the tally; exit 1 if a row could not be imported (celery_beat_import.py)."""
        try:
            lines = celery_beat_import.import_celery_beat(database, dry_run)
        except celery_beat_import.CannotImport as exc:
            raise CommandError(str(exc)) from exc
        for text in celery_beat_import.report(lines, database, dry_run):
            self.stdout.write(text)
        errors = sum(line.outcome == "error" for line in lines)
        if errors:
            raise CommandError(f"{errors} periodic task(s) could not be imported: see the lines marked 'error'")

    def redis_acl(self, user: str) -> None:
        """The line on stdout (`... | redis-cli` as an admin runs it); what to do next on stderr."""
        try:
            config = engine_app.current().config
            line = acl_setuser(config.key_prefix, user, secrets.token_urlsafe(32), config.shards)
        except ValueError as exc:
            raise CommandError(f"--user: {exc}") from exc
        self.stdout.write(line)
        self.stderr.write(f"Run it as an admin of Redis (then ACL SAVE if Redis keeps its users in an aclfile), and "
                          f"connect as {user} with the password after '>': BROKER_URL = "
                          f"'redis://{user}:<password>@host:6379/0' (docs/operations.md).")

    def shards(self, as_document: bool) -> None:
        """The layout on stdout; on stderr, each master that holds more than one shard (they share its
        CPU, so adding masters spreads less than it could) and what to do."""
        layout = inspection.shard_layout()
        if as_document:
            self.stdout.write(json.dumps(layout, indent=2))
        else:
            for row in layout:
                where = f" on {row['master']}" if row["master"] else ""
                self.stdout.write(f"shard {row['shard']}: keys {row['tag']}:..., slot {row['slot']}{where}")
        for master, held in inspection.shared_masters(layout).items():
            self.stderr.write(f"shards {', '.join(map(str, held))} are all on {master}: they share its CPU. Put "
                              "each on a master of its own: choose a KEY_PREFIX whose shards' slots fall on "
                              "different masters, or move a slot (redis-cli --cluster reshard); docs/"
                              "operations.md, Shards on a Cluster.")

    def healthcheck(self, as_document: bool) -> None:
        """Exit 0 or 1 with one line (or the JSON document): for readiness probes and scripts."""
        checks = health.check()
        if as_document:
            self.stdout.write(json.dumps(engine_health.as_json(checks), indent=2))
        else:
            self.stdout.write(engine_health.summary(checks))
        if not all(c.ok for c in checks):
            sys.exit(1)

    def dead_list(self, limit: int, **_: Any) -> None:
        letters = inspection.monitor().dead_letters(limit)
        total = inspection.dead_count()
        self.stdout.write(f"{total} dead letter(s){f', newest {limit} shown' if total > limit else ''}")
        for d in letters:
            self.stdout.write(f"{d.id}  {reports.when(d.time)}  {d.task or '?'}  queue={d.queue or '?'}  "
                              f"{d.reason}")

    def dead_show(self, id: str, **_: Any) -> None:
        letter = inspection.monitor().dead_letter(id)
        if letter is None:
            raise CommandError(f"no dead letter {id!r}; `manage.py jobs dead list` shows their ids")
        reports.dead_letter(letter, self.stdout.write)

    def dead_requeue(self, ids: list[str], all: bool, **_: Any) -> None:
        if all == bool(ids):
            raise CommandError("give dead letter ids, or --all (not both)")
        if all:
            ids = inspection.dead_ids()
        done = control.requeue_dead_each(ids)
        missing = sorted(set(ids) - set(done))
        self.stdout.write(f"{len(done)} dead letter(s) back on their queues")
        if missing:
            raise CommandError(f"not requeued (unknown id, or no queue to go back to): {', '.join(missing)}")

    def dead_purge(self, yes: bool, **_: Any) -> None:
        upto = inspection.newest_dead()
        count = inspection.dead_count()
        if not yes:
            if not sys.stdin.isatty():
                raise CommandError(f"dead purge deletes all {count} dead letter(s): pass --yes (no terminal to ask on)")
            answer = input(f"Delete all {count} dead letters? They cannot be requeued afterwards. [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                self.stdout.write("Nothing deleted.")
                return
        deleted = control.purge_dead(upto)  # those counted: not those that arrived while it asked
        self.stdout.write(f"{deleted} dead letter(s) deleted")
        kept = inspection.dead_count()
        if kept:
            self.stdout.write(f"{kept} dead letter(s) that arrived since were kept")

    def prune(self, app: Any, days: float | None, batch: int) -> None:
        keep = app.config.history_keep if days is None else days * 86400
        before = time.time() - keep
        store = HistoryDatabase()
        deleted = 0
        while True:
            n = store.prune(before, batch)
            deleted += n
            if n < batch:
                break
        self.stdout.write(f"{deleted} history row(s) older than {keep / 86400:g} days deleted")
