"""jobs: background tasks for Django, on Redis.

    from jobs import task

    @task
    def add(x, y):
        return x + y

    add.delay(2, 3).get(timeout=10)  # 5
"""

from .engine.api import (
    AsyncResult,
    ChordError,
    EagerResult,
    GroupResult,
    Request,
    Signature,
    Task,
    __version__,
    chain,
    chord,
    enqueue_many,
    get_task_logger,
    group,
    send_task,
    signature,
    task,
)

#: Celery's name for a task declared without an app: every @task here is one.
shared_task = task

__all__ = ["AsyncResult", "ChordError", "EagerResult", "GroupResult", "Request", "Signature", "Task", "chain",
           "chord", "enqueue_many", "get_task_logger", "group", "send_task", "shared_task", "signature", "task",
           "__version__"]
