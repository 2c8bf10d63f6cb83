"""jobs: background tasks for Django, on Redis.

    from jobs import task

    @task
    def add(x, y):
        return x + y

    add.delay(2, 3).get(timeout=10)  # 5
"""

__version__ = "0.1.0"

from .engine.asyncresult import AsyncResult, EagerResult  # noqa: E402
from .engine.canvas import ChordError, GroupResult, Signature, chain, chord, group  # noqa: E402
from .engine.logs import get_task_logger  # noqa: E402
from .engine.send import enqueue_many, send_task, signature  # noqa: E402
from .engine.task import Request, Task, task  # noqa: E402

__all__ = ["AsyncResult", "ChordError", "EagerResult", "GroupResult", "Request", "Signature", "Task", "chain",
           "chord", "enqueue_many", "get_task_logger", "group", "send_task", "signature", "task", "__version__"]
