"""Celery's settings, as a Django project names them (CELERY_*, read by
``app.config_from_object("django.conf:settings", namespace="CELERY")``), and what each is here.

jobs reads none of them. A half-migrated project that still sets CELERY_BROKER_URL or
CELERY_TASK_ALWAYS_EAGER would otherwise run against the default Redis, or with eager mode off,
without a word: the system check in checks.py warns about each one it finds, naming the JOBS key
to set instead (or saying there is none, and what to do). docs/settings.md's "Coming from Celery"
table says the same at length; tests/django/test_celery_settings.py keeps the two in step.
"""

from __future__ import annotations

#: CELERY_* setting -> (the JOBS key that replaces it, or None; what to know).
CELERY_SETTINGS: dict[str, tuple[str | None, str]] = {
    "CELERY_BROKER_URL": ("BROKER_URL", "Redis only: redis://, rediss://, unix://"),
    "CELERY_BROKER_TRANSPORT_OPTIONS": ("LEASE_SECONDS", "there is no visibility timeout: leases are renewed while "
                                                         "a task runs; global_keyprefix is KEY_PREFIX"),
    "CELERY_BROKER_USE_SSL": ("BROKER_OPTIONS", "or a rediss:// BROKER_URL"),
    "CELERY_BROKER_CONNECTION_TIMEOUT": ("ENQUEUE_TIMEOUT", "how long delay() retries before BrokerUnavailable"),
    "CELERY_BROKER_CONNECTION_RETRY": ("ENQUEUE_TIMEOUT", "workers reconnect by themselves"),
    "CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP": ("ENQUEUE_TIMEOUT", "workers reconnect by themselves"),
    "CELERY_BROKER_CONNECTION_MAX_RETRIES": ("ENQUEUE_TIMEOUT", "workers reconnect by themselves"),
    "CELERY_TASK_PUBLISH_RETRY": ("ENQUEUE_TIMEOUT", "delay() retries until ENQUEUE_TIMEOUT"),
    "CELERY_TASK_PUBLISH_RETRY_POLICY": ("ENQUEUE_TIMEOUT", "delay() retries until ENQUEUE_TIMEOUT"),
    "CELERY_RESULT_BACKEND": (None, "results always live in the broker's Redis; for 'django-db' see JOBS['HISTORY'] "
                                    "(on by default)"),
    "CELERY_RESULT_EXTENDED": ("RESULT_EXTENDED", "on by default here"),
    "CELERY_RESULT_EXPIRES": ("RESULT_EXPIRES", "seconds; must be positive"),
    "CELERY_RESULT_SERIALIZER": ("RESULT_SERIALIZER", ""),
    "CELERY_RESULT_ACCEPT_CONTENT": ("ACCEPT_CONTENT", "one list covers messages and results"),
    "CELERY_ACCEPT_CONTENT": ("ACCEPT_CONTENT", ""),
    "CELERY_TASK_SERIALIZER": ("TASK_SERIALIZER", ""),
    "CELERY_TASK_IGNORE_RESULT": ("IGNORE_RESULT", ""),
    "CELERY_TASK_TRACK_STARTED": ("TRACK_STARTED", ""),
    "CELERY_TASK_ACKS_LATE": ("ACKS_LATE", "True by default here"),
    "CELERY_TASK_ACKS_ON_FAILURE_OR_TIMEOUT": (None, "a task that raises is acknowledged and its failure stored"),
    "CELERY_TASK_REJECT_ON_WORKER_LOST": (None, "per task: @task(reject_on_worker_lost=True)"),
    "CELERY_TASK_TIME_LIMIT": ("TIME_LIMIT", ""),
    "CELERY_TASK_SOFT_TIME_LIMIT": ("SOFT_TIME_LIMIT", ""),
    "CELERY_TASK_DEFAULT_RETRY_DELAY": (None, "per task: @task(default_retry_delay=...)"),
    "CELERY_TASK_ALWAYS_EAGER": ("EAGER", ""),
    "CELERY_TASK_EAGER_PROPAGATES": ("EAGER_PROPAGATES", ""),
    "CELERY_TASK_STORE_EAGER_RESULT": (None, "eager results are never written to Redis"),
    "CELERY_TASK_DEFAULT_QUEUE": ("DEFAULT_QUEUE", "'default' by default here ('celery' in Celery)"),
    "CELERY_TASK_QUEUES": (None, "queues need no declaration"),
    "CELERY_TASK_CREATE_MISSING_QUEUES": (None, "queues need no declaration"),
    "CELERY_TASK_DEFAULT_PRIORITY": (None, "@task(priority=...) or apply_async(priority=...); 9 runs first"),
    "CELERY_TASK_ROUTES": ("ROUTES", "routes win over @task(queue=...) here"),
    "CELERY_TASK_ANNOTATIONS": ("RATE_LIMITS", "only rate limits carry over, as globs"),
    "CELERY_TASK_DEFAULT_RATE_LIMIT": ("RATE_LIMITS", "as {'*': rate}"),
    "CELERY_TASK_SEND_SENT_EVENT": (None, "sent tasks are in the history and the metrics"),
    "CELERY_WORKER_PREFETCH_MULTIPLIER": ("WORKER_PREFETCH", "a different unit: Celery's M is about M-1 here"),
    "CELERY_WORKER_DISABLE_PREFETCH": ("WORKER_PREFETCH", "0, the default, takes a task only when a slot is free"),
    "CELERY_WORKER_CONCURRENCY": ("WORKER_CONCURRENCY", ""),
    "CELERY_WORKER_POOL": ("WORKER_POOL", "prefork, threads or solo"),
    "CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT": ("WORKER_SHUTDOWN_TIMEOUT", "the warm shutdown has a deadline here"),
    "CELERY_WORKER_SEND_TASK_EVENTS": (None, "see the history, jobs/metrics and manage.py jobs inspect"),
    "CELERY_SEND_TASK_ERROR_EMAILS": ("ERROR_EMAILS", "throttled per task by ERROR_EMAIL_INTERVAL"),
    "CELERY_BEAT_SCHEDULE": ("BEAT_SCHEDULE", "the same shape; synced into the database"),
    "CELERY_BEAT_SCHEDULER": (None, "always the database, through manage.py runbeat"),
    "CELERY_BEAT_MAX_LOOP_INTERVAL": (None, "beat ticks at least once a second"),
    "CELERY_TIMEZONE": ("TIMEZONE", "for crontabs without a time zone of their own"),
    "CELERY_ENABLE_UTC": (None, "all stored times are UTC"),
    # Celery 3's names, still found in older projects.
    "CELERY_ALWAYS_EAGER": ("EAGER", ""),
    "CELERY_EAGER_PROPAGATES_EXCEPTIONS": ("EAGER_PROPAGATES", ""),
    "CELERY_TASK_RESULT_EXPIRES": ("RESULT_EXPIRES", "seconds; must be positive"),
    "CELERY_DEFAULT_QUEUE": ("DEFAULT_QUEUE", "'default' by default here ('celery' in Celery)"),
    "CELERY_ROUTES": ("ROUTES", "routes win over @task(queue=...) here"),
    "CELERY_IGNORE_RESULT": ("IGNORE_RESULT", ""),
    "CELERY_TRACK_STARTED": ("TRACK_STARTED", ""),
    "CELERY_ACKS_LATE": ("ACKS_LATE", "True by default here"),
    "CELERYD_CONCURRENCY": ("WORKER_CONCURRENCY", ""),
    "CELERYD_PREFETCH_MULTIPLIER": ("WORKER_PREFETCH", "a different unit: Celery's M is about M-1 here"),
    "CELERYD_TASK_TIME_LIMIT": ("TIME_LIMIT", ""),
    "CELERYD_TASK_SOFT_TIME_LIMIT": ("SOFT_TIME_LIMIT", ""),
    "CELERYBEAT_SCHEDULE": ("BEAT_SCHEDULE", "the same shape; synced into the database"),
}

#: What a Celery setting's name starts with, in a Django project's settings.
PREFIXES = ("CELERY_", "CELERYD_", "CELERYBEAT_")


def advice(name: str) -> str:
    """What to do about a CELERY_* setting, in one sentence."""
    key, note = CELERY_SETTINGS.get(name, (None, ""))
    if name not in CELERY_SETTINGS:
        return "jobs has no equivalent; docs/settings.md ('Coming from Celery') lists the ones it has."
    if key is None:
        return f"jobs has no setting for it: {note}."
    return f"Set JOBS[{key!r}] instead" + (f" ({note})." if note else ".")
