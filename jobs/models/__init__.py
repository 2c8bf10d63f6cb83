"""jobs' models, as Django and ported code name them: `from jobs.models import PeriodicTask`, and the
migrations' `jobs.models.validate_name` and `jobs.models.default_timezone`.

Periodic tasks and their schedules are edited in the Django admin and read by `runbeat`
(periodic_task.py, schedule_kinds.py); a periodic task has exactly one schedule, of one of three
kinds, and django-celery-beat's ways of naming it work on top (celery_beat_keywords.py); its rows are
copied by `manage.py jobs import-celery-beat` (compat/celery_beat_import.py). The task history
(TaskResult) is written by the workers' recorders (task_result.py); the outbox's rows (OutboxMessage)
wait for their transaction's commit to be sent (outbox_message.py).
"""

from .outbox_message import OutboxMessage
from .periodic_task import EPOCH, BeatVersion, PeriodicTask
from .schedule_kinds import ClockedSchedule, CrontabSchedule, IntervalSchedule, Schedule
from .task_result import Console, TaskResult
from .values import default_timezone, json_value, validate_name, zone_key

__all__ = [
    "EPOCH", "BeatVersion", "ClockedSchedule", "Console", "CrontabSchedule", "IntervalSchedule", "OutboxMessage",
    "PeriodicTask", "Schedule", "TaskResult", "default_timezone", "json_value", "validate_name", "zone_key",
]
