"""Settings of a worker as lean as a project can make it: jobs and one app of tasks, no admin, the
defaults otherwise (the history on, written to a database). tests/acceptance/test_startup.py checks
what such a worker has imported by the time its first task runs. The broker is the test session's
(JOBS_BROKER_URL, as in tests/settings.py)."""

import os

SECRET_KEY = "tests-only"
USE_TZ = True
INSTALLED_APPS = ["jobs", "tests.startupapp"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": os.environ.get("JOBS_TEST_DB_NAME", ":memory:")}}
JOBS = {"ENQUEUE_TIMEOUT": 2}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
