"""Settings of the example project: a development setup, not one to deploy.

Two environment variables exist for the acceptance test, which runs this project in several
processes (a test client and a worker) that must share one database and one mail folder:
EXAMPLE_DB_PATH and EXAMPLE_EMAIL_DIR.
"""

import os
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent
REPO_DIR = BASE_DIR.parent

SECRET_KEY = "example-project-only-never-deploy-this-key"
DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "jobs",
    "example_project.shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# The web process and the worker processes open this one file. SQLite copes with that for a demo;
# the timeout lets a writer wait for another's lock instead of failing at once.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("EXAMPLE_DB_PATH") or BASE_DIR / "db.sqlite3",
        "OPTIONS": {"timeout": 20},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"

# Emails are written as files (one per message) so the demo needs no mail server; the backend
# creates the folder on first use.
_MAIL_DIR = str(os.environ.get("EXAMPLE_EMAIL_DIR") or REPO_DIR / "var" / "sent_emails")
if django.VERSION >= (6, 1):  # MAILERS replaces EMAIL_BACKEND and EMAIL_FILE_PATH
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.filebased.EmailBackend",
                           "OPTIONS": {"file_path": _MAIL_DIR}}}
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = _MAIL_DIR
DEFAULT_FROM_EMAIL = "shop@example.com"

# No BROKER_URL: jobs then takes the JOBS_BROKER_URL environment variable, else
# redis://127.0.0.1:6379/0. Either of these would pin it here instead:
#
#     JOBS = {"BROKER_URL": "redis://127.0.0.1:6379/0"}
#     JOBS = {"REDIS_CACHE": "default"}   # reuse CACHES["default"] (django-redis or Django's RedisCache)
#
# A periodic task from the settings: `runbeat` syncs it into the database when it starts, where the
# admin shows it beside those made there (make demo adds one: the morning sales report).
JOBS: dict[str, object] = {
    "TIME_LIMIT": 600,  # no task may hold a worker process for more than 10 minutes
    "BEAT_SCHEDULE": {
        "count recent orders": {"task": "shop.count_recent_orders", "schedule": 60, "kwargs": {"minutes": 60},
                                "description": "Logs how many orders came in during the last hour."},
    },
}

# The worker logs every task it runs on the "jobs" logger; show those lines in the console, for the
# web process (what was enqueued) as well as for `runworker`.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "worker": {"format": "[%(asctime)s: %(levelname)s/%(processName)s %(process)d] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "worker"},
    },
    "loggers": {
        "jobs": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
