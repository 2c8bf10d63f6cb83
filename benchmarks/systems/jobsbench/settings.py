"""Django settings of the benchmark's jobs worker and client: just enough Django for jobs, with its
defaults: the task history is written to a database ($BENCH_DB, SQLite, as the demo's), unless
$BENCH_JOBS_HISTORY is 0 (the "jobs, no history" row, and the profile of a consumer)."""

import os

SECRET_KEY = "benchmark"
USE_TZ = True
INSTALLED_APPS = ["jobs", "benchmarks.systems.jobsbench"]
HISTORY = os.environ.get("BENCH_JOBS_HISTORY", "1") == "1"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["BENCH_DB"]}} if HISTORY else {}
if os.environ.get("BENCH_DATABASE_URL"):  # the outbox's benchmark (benchmarks/outbox.py): PostgreSQL
    from urllib.parse import urlsplit

    _db = urlsplit(os.environ["BENCH_DATABASE_URL"])
    DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": _db.path.lstrip("/"),
                             "USER": _db.username or "postgres", "PASSWORD": _db.password or "",
                             "HOST": _db.hostname or "127.0.0.1", "PORT": _db.port or 5432}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
JOBS = {"BROKER_URL": os.environ["BENCH_BROKER"], "KEY_PREFIX": os.environ.get("BENCH_JOBS_PREFIX", "bench"),
        "TIME_LIMIT": 300, "HISTORY": HISTORY,
        "OUTBOX": os.environ.get("BENCH_JOBS_OUTBOX") == "1"}
if os.environ.get("BENCH_JOBS_PREFETCH"):  # a variant's; jobs' own default otherwise
    JOBS["WORKER_PREFETCH"] = int(os.environ["BENCH_JOBS_PREFETCH"])
if os.environ.get("BENCH_JOBS_SHARDS", "1") != "1":  # benchmarks/shards.py; unset: a site without shards
    import json

    JOBS["SHARDS"] = int(os.environ["BENCH_JOBS_SHARDS"])
    JOBS["QUEUE_SHARD"] = json.loads(os.environ.get("BENCH_JOBS_QUEUE_SHARD", "{}"))
    JOBS["QUEUE_SPREAD"] = json.loads(os.environ.get("BENCH_JOBS_QUEUE_SPREAD", "{}"))
LOGGING = {"version": 1, "disable_existing_loggers": False}
