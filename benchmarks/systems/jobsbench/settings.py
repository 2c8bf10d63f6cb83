"""Django settings of the benchmark's jobs worker and client: just enough Django for jobs."""

import os

SECRET_KEY = "benchmark"
USE_TZ = True
INSTALLED_APPS = ["jobs", "benchmarks.systems.jobsbench"]
DATABASES = {}
JOBS = {"BROKER_URL": os.environ["BENCH_BROKER"], "KEY_PREFIX": "bench",
        "TIME_LIMIT": 300, "WORKER_PREFETCH": int(os.environ.get("BENCH_JOBS_PREFETCH", "0"))}
LOGGING = {"version": 1, "disable_existing_loggers": False}
