"""Settings for the test suite and for the worker processes the tests start.

JOBS has no BROKER_URL: the engine reads JOBS_BROKER_URL from the environment when first used, and
the test session points it at its own private redis-server before anything connects. Worker
processes inherit that environment; JOBS_TEST_SETTINGS (JSON) adds keys for one test's workers.
"""

import json
import os
from typing import Any

import django

SECRET_KEY = "tests-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "jobs",
    "tests.testapp",
] + [app for app in os.environ.get("JOBS_TEST_EXTRA_APPS", "").split(",") if app]

# Django's task API (django.tasks on Django 6; the django-tasks backport on 5.2) on jobs: the
# contract suite's tasks (tests/djangotasks) run on the same workers as tests.testapp's.
try:
    import django.tasks  # noqa: F401

    TASKS_API = "django.tasks"
except ImportError:
    try:
        import django_tasks  # noqa: F401  (the test extra installs it for Python < 3.12, where pip picks 5.2)

        TASKS_API = "django_tasks"
        INSTALLED_APPS.append("django_tasks")
    except ImportError:  # Django 5.2 without the backport: the contract suite skips itself
        TASKS_API = ""
if TASKS_API:
    INSTALLED_APPS.append("tests.djangotasks")
    TASKS = {"default": {"BACKEND": "jobs.backend.JobsBackend", "QUEUES": ["default", "emails", "low"]}}

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]

if os.environ.get("JOBS_TEST_DATABASE_URL", "").startswith("postgres"):
    from urllib.parse import urlsplit

    _db = urlsplit(os.environ["JOBS_TEST_DATABASE_URL"])
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.postgresql", "NAME": _db.path.lstrip("/") or "postgres",
        "USER": _db.username or "postgres", "PASSWORD": _db.password or "",
        "HOST": _db.hostname or "127.0.0.1", "PORT": _db.port or 5432,
        # A write that waits for a lock fails after 5 s, as SQLite's do (test_history.py holds one).
        "OPTIONS": {"options": "-c lock_timeout=5000"},
    }}
elif os.environ.get("JOBS_TEST_DATABASE_URL", "").startswith("mysql"):  # MySQL or MariaDB (mysqlclient)
    from urllib.parse import urlsplit

    _db = urlsplit(os.environ["JOBS_TEST_DATABASE_URL"])
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.mysql", "NAME": _db.path.lstrip("/") or "jobs", "USER": _db.username or "root",
        "PASSWORD": _db.password or "", "HOST": _db.hostname or "", "PORT": _db.port or "",  # no host: the socket
        "OPTIONS": {"charset": "utf8mb4"}, "TEST": {"CHARSET": "utf8mb4"},
    }}
else:
    # A file, not :memory: — an in-memory test database is never really closed, which hides bugs
    # that close a connection at the wrong time.
    import tempfile

    DATABASES = {"default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(tempfile.gettempdir(), "jobs-tests.sqlite3"),
        "TEST": {"NAME": os.path.join(tempfile.gettempdir(), f"jobs-tests-{os.getpid()}.sqlite3")},
    }}

if os.environ.get("JOBS_TEST_DB_NAME"):  # a child process of a test: the test's own database
    DATABASES["default"]["NAME"] = os.environ["JOBS_TEST_DB_NAME"]

# The history is written by the workers to the database: a worker of a test that has one (its
# JOBS_TEST_DB_NAME, from the test_database_env fixture) records it, as the default says; a worker
# of a test without one has no table to write to.
JOBS = {"ENQUEUE_TIMEOUT": 2, "HISTORY": bool(os.environ.get("JOBS_TEST_DB_NAME")),
        **json.loads(os.environ.get("JOBS_TEST_SETTINGS", "{}"))}

ADMINS = [("Ops", "ops@example.com")]
SERVER_EMAIL = "jobs@example.com"
_mail: dict[str, Any]
if os.environ.get("JOBS_TEST_MAIL_DIR"):
    _mail = {"BACKEND": "django.core.mail.backends.filebased.EmailBackend",
             "OPTIONS": {"file_path": os.environ["JOBS_TEST_MAIL_DIR"]}}
else:
    _mail = {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
if django.VERSION >= (6, 1):  # MAILERS replaces EMAIL_BACKEND and EMAIL_FILE_PATH
    MAILERS = {"default": _mail}
else:
    EMAIL_BACKEND = _mail["BACKEND"]
    EMAIL_FILE_PATH = _mail.get("OPTIONS", {}).get("file_path")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if os.environ.get("JOBS_TEST_SPANS_FILE"):
    # A worker of the tracing test (tests/acceptance/test_tracing.py) exports its spans as JSON
    # lines to this file, with the SDK's own exporter: synchronously (no export thread to lose at
    # fork or at exit), appended (prefork children each write whole lines).
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    _provider = TracerProvider()
    _provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(
        out=open(os.environ["JOBS_TEST_SPANS_FILE"], "a", buffering=1),  # noqa: SIM115 (the process's life)
        formatter=lambda span: span.to_json(indent=None) + "\n")))
    trace.set_tracer_provider(_provider)
