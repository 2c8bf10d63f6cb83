"""Logging with the task in every record: get_task_logger(), and a filter for your handlers.

    from jobs import get_task_logger
    logger = get_task_logger(__name__)

    @task
    def charge(order_id):
        logger.info("charging %s", order_id)   # record.task_name, record.task_id are set

The worker logs to the "jobs" logger ("jobs.worker" for itself, "jobs.task.<name>" for task
loggers), so one handler on "jobs" in Django's LOGGING catches everything.
"""

from __future__ import annotations

import logging

from .wire.request import current_request


class TaskContextFilter(logging.Filter):
    """Adds task_name and task_id ('' outside a task) and task_label (" name[id]") to each record;
    usable in LOGGING as {"()": "jobs.engine.logs.TaskContextFilter"}."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = current_request()
        record.task_name = request.task if request else ""
        record.task_id = request.id if request else ""
        record.task_label = f" {request.task}[{request.id}]" if request else ""
        return True


_filter = TaskContextFilter()


def get_task_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(f"jobs.task.{name}")
    if _filter not in logger.filters:
        logger.addFilter(_filter)
    return logger
