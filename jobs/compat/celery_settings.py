"""Celery's settings, as a Django project names them (CELERY_*, read by
``app.config_from_object("django.conf:settings", namespace="CELERY")``), and what each is here.

jobs reads none of them. A half-migrated project that still sets CELERY_BROKER_URL or
CELERY_TASK_ALWAYS_EAGER would otherwise run against the default Redis, or with eager mode off,
without a word: the system check in checks.py warns about each one it finds, naming the JOBS key
to set instead (or saying there is none, and what to do). The docs' tables of them (docs/settings.md,
"Coming from Celery"; docs/from-celery.md, "Settings") are printed from this same mapping by
scripts/celery_settings_table.py, so the check and the docs cannot drift apart;
tests/django/test_celery_settings.py fails when a table in the docs is not the one printed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    """What one Celery setting is here. Settings that share one (the same object, or an equal one)
    share a row in the docs' table."""

    #: The JOBS key that replaces it, or None.
    key: str | None
    #: What to know, as a clause: the check's hint says it, and so does the table.
    note: str = ""
    #: What the table says besides, in Markdown sentences.
    more: str = ""
    #: The table's jobs column, where more than the key replaces it (a runworker flag, a @task option).
    instead: str = ""


_RECONNECT = Setting("ENQUEUE_TIMEOUT", "how long `delay()` retries before it raises `BrokerUnavailable`; "
                                        "workers reconnect by themselves",
                     "Workers need no setting: they reconnect on their own, with a pause that starts at 0.1 s "
                     "and doubles up to 10 s, and keep trying for as long as they run.")
_NO_QUEUES = Setting(None, "queues need no declaration", "Any valid name works, both in `queue=` and in `-Q`.")
_RATE_LIMITS = Setting("RATE_LIMITS", "globs of task names → rate, `{'*': rate}` for a default; of "
                                      "annotations, only rate limits carry over",
                       "Enforced for the whole cluster through Redis, not per worker: the limit is what all "
                       "workers start together. Per task: `@task(rate_limit=...)`; per-key budgets with "
                       "`rate_limit_key`.", "`RATE_LIMITS`, `@task(rate_limit=...)`")
_BEAT_LOOP = Setting(None, "beat ticks at least once a second and saves each run as it sends it")

#: CELERY_* setting -> what it is here; in the order of the docs' table.
CELERY_SETTINGS: dict[str, Setting] = {
    "CELERY_BROKER_URL": Setting("BROKER_URL", "Redis only: `redis://`, `rediss://`, `unix://`, `redis+sentinel://` "
                                               "(Celery's `sentinel://` lists sentinels otherwise: docs/settings.md), "
                                               "`redis+cluster://`"),
    "CELERY_BROKER_TRANSPORT_OPTIONS": Setting(
        "LEASE_SECONDS", "there is no visibility timeout: leases are renewed while a task runs; "
                         "`global_keyprefix` is `KEY_PREFIX`",
        "A lease starts when a task is fetched and is renewed every third of `LEASE_SECONDS` by the worker's "
        "supervisor (the parent process with prefork) while the task runs, so a long task is never redelivered "
        "just for being long. A dead worker's tasks come back after at most `LEASE_SECONDS` (see "
        "[Leases](#leases)). Keep the default of 30 s; do not copy a large visibility timeout. "
        "`KEY_PREFIX` defaults to `\"jobs\"`; socket options go in `BROKER_OPTIONS`. "
        "`queue_order_strategy` has no setting: `runworker -Q a,b` is always strict, a waiting task in `a` is "
        "always taken before any task in `b`.", "`LEASE_SECONDS`, `KEY_PREFIX`, `BROKER_OPTIONS`"),
    "CELERY_BROKER_USE_SSL": Setting("BROKER_OPTIONS", "or a `rediss://` `BROKER_URL`",
                                     "redis-py connection keyword arguments (`ssl_ca_certs`, `ssl_cert_reqs`, ...).",
                                     "`BROKER_OPTIONS`, `rediss://`"),
    "CELERY_BROKER_CONNECTION_TIMEOUT": _RECONNECT,
    "CELERY_BROKER_CONNECTION_RETRY": _RECONNECT,
    "CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP": _RECONNECT,
    "CELERY_BROKER_CONNECTION_MAX_RETRIES": _RECONNECT,
    "CELERY_TASK_PUBLISH_RETRY": _RECONNECT,
    "CELERY_TASK_PUBLISH_RETRY_POLICY": _RECONNECT,
    "CELERY_RESULT_BACKEND": Setting(
        None, "results always live in the broker's Redis; for 'django-db' see `JOBS['HISTORY']` (on by default)",
        "With `ACKS_LATE` (the default), the result is written in the same atomic step as the acknowledgement. "
        "For `\"django-db\"` (django-celery-results) and `celerycam`: every outcome is also a `TaskResult` row in "
        "your database, written by the workers in batches; see "
        "[Results](results.md#coming-from-celery-django-celery-results-celerycam).", "`HISTORY` (on)"),
    "CELERY_RESULT_EXTENDED": Setting("RESULT_EXTENDED", "on by default here (off in Celery)",
                                      "`REDACT` and `STORED_ARGS_MAX` apply to the arguments."),
    "CELERY_RESULT_EXPIRES": Setting("RESULT_EXPIRES", "seconds; must be positive",
                                     "Same default: 1 day. Celery's `None`/`0` for \"never expire\" has no "
                                     "equivalent."),
    "CELERY_RESULT_SERIALIZER": Setting("RESULT_SERIALIZER", "", "Same meaning and default (`\"json\"`)."),
    "CELERY_RESULT_ACCEPT_CONTENT": Setting("ACCEPT_CONTENT", "one list covers messages and results"),
    "CELERY_ACCEPT_CONTENT": Setting("ACCEPT_CONTENT", "",
                                     "Same meaning and the same default (`[\"json\"]`). Only `\"json\"` and "
                                     "`\"pickle\"` exist. Pickle is refused unless it is listed."),
    "CELERY_TASK_SERIALIZER": Setting("TASK_SERIALIZER", "",
                                      "Same meaning and default (`\"json\"`). It must also be listed in "
                                      "`ACCEPT_CONTENT`, which is checked at start-up."),
    "CELERY_TASK_IGNORE_RESULT": Setting("IGNORE_RESULT", "", "Same meaning. Per task: `@task(ignore_result=True)`."),
    "CELERY_TASK_TRACK_STARTED": Setting("TRACK_STARTED", "", "Same meaning and the same default (`False`). Per "
                                                              "task: `@task(track_started=True)`."),
    "CELERY_TASK_ACKS_LATE": Setting("ACKS_LATE", "`True` by default here", "Celery's default is `False`."),
    "CELERY_TASK_ACKS_ON_FAILURE_OR_TIMEOUT": Setting(
        None, "a task that raises is acknowledged and its failure stored", "Like Celery's default."),
    "CELERY_TASK_REJECT_ON_WORKER_LOST": Setting(
        None, "per task: `@task(reject_on_worker_lost=True)`",
        "As in Celery, by default a task whose process dies (segfault, OOM kill, `os._exit`) fails with "
        "`WorkerLostError`; with `reject_on_worker_lost=True` it goes back to its queue, counted against "
        "`MAX_DELIVERIES`. When the whole worker dies (`kill -9`, a lost host), nobody is left to decide: the "
        "lease runs out and the task runs again.", "`@task(reject_on_worker_lost=True)`"),
    "CELERY_WORKER_LOST_WAIT": Setting(
        None, "a task whose process dies fails with `WorkerLostError` (or goes back to its queue, with "
              "`reject_on_worker_lost`); `JOBS['MAX_DELIVERIES']` bounds how often a message may be lost",
        "Celery has no bound: a poison task that kills its worker is redelivered forever. Past "
        "`MAX_DELIVERIES` (5) the message goes to the dead letters.", "`MAX_DELIVERIES`"),
    "CELERY_TASK_TIME_LIMIT": Setting("TIME_LIMIT", "", "Same meaning. With `--pool threads` it cannot be enforced, "
                                                        "and the worker says so at start."),
    "CELERY_TASK_SOFT_TIME_LIMIT": Setting("SOFT_TIME_LIMIT", "",
                                           "Same meaning; raises `jobs.exceptions.SoftTimeLimitExceeded`. Enforced "
                                           "in every pool, threads included."),
    "CELERY_TASK_DEFAULT_RETRY_DELAY": Setting(None, "per task: `@task(default_retry_delay=...)`",
                                               "Same default (180 s).", "`@task(default_retry_delay=...)`"),
    "CELERY_TASK_ALWAYS_EAGER": Setting(
        "EAGER", "",
        "Arguments still go through the serializer and are decoded using `ACCEPT_CONTENT`, and the return value "
        "goes through the result serializer. Celery's `apply_async()` also round-trips the arguments, but it does "
        "not check `accept_content` and does not round-trip results."),
    "CELERY_TASK_EAGER_PROPAGATES": Setting("EAGER_PROPAGATES", "", "Same meaning."),
    "CELERY_TASK_STORE_EAGER_RESULT": Setting(None, "eager results are never written to Redis"),
    "CELERY_TASK_DEFAULT_QUEUE": Setting("DEFAULT_QUEUE", "`\"default\"` by default here (`\"celery\"` in Celery)"),
    "CELERY_TASK_QUEUES": _NO_QUEUES,
    "CELERY_TASK_CREATE_MISSING_QUEUES": _NO_QUEUES,
    "CELERY_TASK_DEFAULT_PRIORITY": Setting(None, "`@task(priority=...)` or `apply_async(priority=...)`; "
                                                  "9 runs first"),
    "CELERY_TASK_ROUTES": Setting(
        "ROUTES", "routes win over `@task(queue=...)` here",
        "The same shapes: a dict of glob → queue or `{\"queue\", \"priority\"}`, a callable "
        "`(name, args, kwargs, options)`, or a list of them. In Celery the task's attribute wins. "
        "`re.compile(...)` keys work too (matched from the start of the name)."),
    "CELERY_TASK_ANNOTATIONS": _RATE_LIMITS,
    "CELERY_TASK_DEFAULT_RATE_LIMIT": _RATE_LIMITS,
    "CELERY_TASK_SEND_SENT_EVENT": Setting(None, "sent tasks are in the history and the metrics"),
    "CELERY_WORKER_PREFETCH_MULTIPLIER": Setting(
        "WORKER_PREFETCH", "a different unit: Celery's M is about M-1 here",
        "`N` is the most tasks each consumer takes in addition to the one it runs (default 16), and only while its "
        "tasks are short; what waits behind a task that runs over 20 ms goes back to its queue, so it never waits "
        "behind a long one as with Celery's multiplier. `0`: a task is taken only when a slot is free. Celery's "
        "`0` (no limit) has no equivalent.",
        "`WORKER_PREFETCH`, `runworker --prefetch N`"),
    "CELERY_WORKER_DISABLE_PREFETCH": Setting("WORKER_PREFETCH", "0 takes a task only when a slot is free",
                                              "(Celery 5.6+) With either `ACKS_LATE`. Seldom needed: what a "
                                              "consumer takes ahead goes back when the task in hand runs long."),
    "CELERY_WORKER_CONCURRENCY": Setting("WORKER_CONCURRENCY", "", "Same default: the number of CPUs.",
                                         "`WORKER_CONCURRENCY`, `runworker -c`"),
    "CELERY_WORKER_POOL": Setting("WORKER_POOL", "`prefork`, `threads` or `solo`",
                                  "There is no eventlet, gevent or custom pool.", "`WORKER_POOL`, `runworker -P`"),
    "CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT": Setting(
        "WORKER_SHUTDOWN_TIMEOUT", "the warm shutdown has a deadline here",
        "Celery's warm shutdown waits for running tasks with no time limit. Here they get 30 s by default; after "
        "it, they are stopped and returned to their queue, so they run again.",
        "`WORKER_SHUTDOWN_TIMEOUT`, `runworker --shutdown-timeout`"),
    "CELERY_WORKER_SEND_TASK_EVENTS": Setting(None, "see the history, `jobs/metrics` and `manage.py jobs inspect`"),
    "CELERY_SEND_TASK_ERROR_EMAILS": Setting("ERROR_EMAILS", "throttled per task by `ERROR_EMAIL_INTERVAL`",
                                             "Uses Django's `mail_admins` and `ADMINS`.",
                                             "`ERROR_EMAILS`, `ERROR_EMAIL_INTERVAL`"),
    "CELERY_BEAT_SCHEDULE": Setting(
        "BEAT_SCHEDULE", "the same shape; synced into the database",
        "`task`, `schedule` (seconds, a `timedelta` or `jobs.schedules.crontab(...)`), `args`, `kwargs`, "
        "`options` (`queue`, `priority`, `expires`). The admin shows the entries."),
    "CELERY_BEAT_SCHEDULER": Setting(
        None, "always the database, through `manage.py runbeat`",
        "Run as many `runbeat` processes as you like, where django-celery-beat wants a single beat: one leads, "
        "through a lease in Redis (`BEAT_LEASE_SECONDS`), and each run is sent once."),
    "CELERY_BEAT_MAX_LOOP_INTERVAL": _BEAT_LOOP,
    "CELERY_BEAT_SYNC_EVERY": _BEAT_LOOP,
    "CELERY_TIMEZONE": Setting("TIMEZONE", "for crontabs without a time zone of their own; defaults to `TIME_ZONE`",
                               "All stored times are UTC."),
    "CELERY_ENABLE_UTC": Setting(None, "all stored times are UTC"),
}

#: Celery 3's names, still found in older projects -> the current name they mean.
CELERY3_NAMES: dict[str, str] = {
    "CELERY_ALWAYS_EAGER": "CELERY_TASK_ALWAYS_EAGER",
    "CELERY_EAGER_PROPAGATES_EXCEPTIONS": "CELERY_TASK_EAGER_PROPAGATES",
    "CELERY_TASK_RESULT_EXPIRES": "CELERY_RESULT_EXPIRES",
    "CELERY_DEFAULT_QUEUE": "CELERY_TASK_DEFAULT_QUEUE",
    "CELERY_ROUTES": "CELERY_TASK_ROUTES",
    "CELERY_IGNORE_RESULT": "CELERY_TASK_IGNORE_RESULT",
    "CELERY_TRACK_STARTED": "CELERY_TASK_TRACK_STARTED",
    "CELERY_ACKS_LATE": "CELERY_TASK_ACKS_LATE",
    "CELERYD_CONCURRENCY": "CELERY_WORKER_CONCURRENCY",
    "CELERYD_PREFETCH_MULTIPLIER": "CELERY_WORKER_PREFETCH_MULTIPLIER",
    "CELERYD_TASK_TIME_LIMIT": "CELERY_TASK_TIME_LIMIT",
    "CELERYD_TASK_SOFT_TIME_LIMIT": "CELERY_TASK_SOFT_TIME_LIMIT",
    "CELERYBEAT_SCHEDULE": "CELERY_BEAT_SCHEDULE",
}
CELERY_SETTINGS.update({old: CELERY_SETTINGS[new] for old, new in CELERY3_NAMES.items()})

#: Names with no lowercase form to show: Celery 3's only.
_NO_LOWERCASE = {"CELERY_SEND_TASK_ERROR_EMAILS", *CELERY3_NAMES}

#: What a Celery setting's name starts with, in a Django project's settings.
PREFIXES = ("CELERY_", "CELERYD_", "CELERYBEAT_")


def advice(name: str) -> str:
    """What to do about a CELERY_* setting, in one sentence."""
    if name not in CELERY_SETTINGS:
        return "jobs has no equivalent; docs/settings.md ('Coming from Celery') lists the ones it has."
    setting = CELERY_SETTINGS[name]
    note = setting.note.replace("`", "")
    if setting.key is None:
        return f"jobs has no setting for it: {note}."
    return f"Set JOBS[{setting.key!r}] instead" + (f" ({note})." if note else ".")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _shown(name: str) -> str:
    if name in _NO_LOWERCASE:
        return f"`{name}` (Celery 3)"
    return f"`{name.removeprefix('CELERY_').lower()}` (`{name}`)"


def _rows(celery3: bool = True) -> dict[Setting, list[str]]:
    """Each Setting with the names it stands for, in the mapping's order (Celery 3's names last)."""
    rows: dict[Setting, list[str]] = {}
    for name, setting in CELERY_SETTINGS.items():
        if celery3 or name not in CELERY3_NAMES:
            rows.setdefault(setting, []).append(name)
    return rows


def _jobs(setting: Setting) -> str:
    return _cell(setting.instead or (f"`{setting.key}`" if setting.key else "none"))


def _note(setting: Setting) -> str:
    return setting.note[:1].upper() + setting.note[1:] + "." if setting.note else ""


def markdown_table() -> str:
    """docs/settings.md's table: every setting, what replaces it, and all there is to know."""
    lines = ["| Celery setting | jobs | Notes |", "|---|---|---|"]
    for setting, names in _rows().items():
        notes = " ".join(part for part in (_note(setting), setting.more) if part)
        lines.append(f"| {', '.join(_shown(n) for n in names)} | {_jobs(setting)} | {_cell(notes)} |")
    return "\n".join(lines) + "\n"


def markdown_summary() -> str:
    """docs/from-celery.md's table: the settings as a Django project names them, what replaces each,
    and the check's note; then Celery 3's names."""
    lines = ["| Celery | `JOBS` | Note |", "|---|---|---|"]
    for setting, names in _rows(celery3=False).items():
        lines.append(f"| {', '.join(f'`{n}`' for n in names)} | {_jobs(setting)} | {_cell(_note(setting))} |")
    old = ", ".join(f"`{old}` (`{new}`)" for old, new in CELERY3_NAMES.items())
    return "\n".join(lines) + f"\n\nCelery 3's names map as the current ones: {old}.\n"
