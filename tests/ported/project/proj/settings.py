import os
from datetime import timedelta

from jobs.schedules import crontab

SECRET_KEY = os.environ.get("SECRET_KEY", "dev")
USE_TZ = True
TIME_ZONE = "Europe/Moscow"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "jobs",
    "shop",
]
# Not part of the port: the test suite's database (SQLite or PostgreSQL; a test's own through JOBS_TEST_DB_NAME).
from tests.settings import DATABASES  # noqa: E402, F401

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

JOBS = {
    "BROKER_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    "ACCEPT_CONTENT": ["json"],
    "TASK_SERIALIZER": "json",
    "RESULT_SERIALIZER": "json",
    "TIMEZONE": TIME_ZONE,
    "TIME_LIMIT": 10 * 60,
    "SOFT_TIME_LIMIT": 5 * 60,
    "ACKS_LATE": True,
    "ROUTES": {
        "shop.tasks.send_*": {"queue": "emails"},
        "shop.tasks.build_report": {"queue": "reports"},
    },
    "BEAT_SCHEDULE": {
        "heartbeat": {
            "task": "shop.tasks.heartbeat",
            "schedule": timedelta(seconds=1),
            "args": ("settings",),
        },
        "nightly-cleanup": {
            "task": "shop.tasks.nightly_cleanup",
            "schedule": crontab(hour=3, minute=0),
        },
    },
}
