"""jobs: background tasks for Django, on Redis.

    from jobs import task

    @task
    def add(x, y):
        return x + y

    add.delay(2, 3).get(timeout=10)  # 5
"""

from .engine.errors import ChordError
from .engine.logs import get_task_logger
from .engine.send.asyncresult import AsyncResult, GroupResult
from .engine.send.canvas import Signature, chain, chord, group, signature
from .engine.send.eager import EagerResult
from .engine.send.producer import enqueue_many, send_task
from .engine.send.task import Task, task
from .engine.version import __version__
from .engine.wire.request import Request

#: Celery's name for a task declared without an app: every @task here is one.
shared_task = task

__all__ = ["AsyncResult", "ChordError", "EagerResult", "GroupResult", "Request", "Signature", "Task", "chain",
           "chord", "enqueue_many", "get_task_logger", "group", "send_task", "shared_task", "signature", "task",
           "__version__"]
