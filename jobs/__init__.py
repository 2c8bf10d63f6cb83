"""jobs: background tasks for Django, on Redis.

    from jobs import task

    @task
    def add(x, y):
        return x + y

    add.delay(2, 3).get(timeout=10)  # 5
"""

from .engine.asyncresult import AsyncResult  # noqa: E402
from .engine.canvas import (  # noqa: E402
           GroupResult,
           Signature,
           chain,
           chord,
           group,
           signature,  # noqa: E402
)
from .engine.eager import EagerResult  # noqa: E402
from .engine.errors import ChordError  # noqa: E402
from .engine.logs import get_task_logger  # noqa: E402
from .engine.producer import enqueue_many, send_task  # noqa: E402
from .engine.request import Request  # noqa: E402
from .engine.task import Task, task  # noqa: E402
from .engine.version import __version__  # noqa: E402

__all__ = ["AsyncResult", "ChordError", "EagerResult", "GroupResult", "Request", "Signature", "Task", "chain",
           "chord", "enqueue_many", "get_task_logger", "group", "send_task", "signature", "task", "__version__"]
