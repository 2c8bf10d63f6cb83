"""Django settings for Huey's own Django consumer (`manage.py run_huey`, huey.contrib.djhuey): the
start-up benchmark (benchmarks/startup.py) runs Huey this way too, so that both systems are compared
starting as a Django project's worker, as well as Huey's plain consumer without Django. The Huey
instance and its tasks are the benchmark's (huey_system), so the client's sends reach it."""

from benchmarks.systems.huey_system import huey as HUEY  # noqa: F401, N811 - djhuey reads settings.HUEY

SECRET_KEY = "benchmark"
USE_TZ = True
INSTALLED_APPS = ["huey.contrib.djhuey"]
DATABASES: dict[str, dict[str, str]] = {}
LOGGING = {"version": 1, "disable_existing_loggers": False}
