"""jobs in the Django admin (Django imports `jobs.admin` to register it): periodic tasks and their
schedules (periodic_admin.py, edited with periodic_form.py), the task history (history_admin.py), the
outbox's rows (outbox_admin.py), and the operations console (jobs/console/views.py registers it, as admin:jobs_console).

Actions are POST forms with Django's CSRF and permission checks (the admin's own), never links.
"""

from ..console import views as console_views  # noqa: F401 (registers the console, admin:jobs_console)
from . import history_admin, outbox_admin, periodic_admin  # noqa: F401 (each registers its models)
