"""The test project, with the hostile tasks and its static files served (the console's script must
run for its live refresh to be tested): tests/acceptance/test_security_browser.py's web server and
worker."""

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "django.contrib.staticfiles", "tests.hostile"]  # noqa: F405
STATIC_URL = "/static/"
JOBS = {**JOBS, "UNKNOWN_TASK_GRACE": 0}  # noqa: F405 (a task no worker knows is a dead letter at once)
