"""Concurrency limits: at most N runs of a task at once across every worker and host, or N per key.

    @task(concurrency=3)                                                        3 runs at once
    @task(concurrency=3, concurrency_key=lambda customer_id, **_: customer_id)  3 per customer

Here is what the sender and the worker agree on: a call's slot name, and how long a delivery that
found every slot taken waits before it is offered again. The slots themselves are in Redis
(lua/slot.lua), held with the delivery's lease, so a killed worker's slot is freed with its lease.

The key is found when the call is sent (build.py), so a key function that fails, or returns something
else than a str or an int, fails the call where it is made, naming the task, not later in a worker.
The message carries the slot name (MessageOptions.slot); a task sent by name from a process that
does not import it gets its name in the worker, from the same function.
"""

from __future__ import annotations

import random
from typing import Any

from ..bounds import shown
from .definition import TaskDefinition

#: The longest key a slot name takes (it is part of a Redis key).
MAX_KEY_LENGTH = 200

#: A delivery that found its slots taken is offered again after FIRST_WAIT_MS, doubling with each
#: time it was put back, up to MAX_WAIT_MS (jittered: waiters do not come back together).
FIRST_WAIT_MS = 25
MAX_WAIT_MS = 1000


def slot_name(task: TaskDefinition, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """The slot this call takes: the task's name, with ':' and its key when it has a concurrency_key;
    None when the task has no concurrency limit."""
    if task.concurrency is None:
        return None
    key_of = task.concurrency_key
    if key_of is None:
        return task.name
    try:
        key = key_of(*args, **kwargs)
    except Exception as exc:
        exc.add_note(f"(in concurrency_key of task {task.name})")
        raise
    if isinstance(key, bool) or not isinstance(key, (str, int)) or key == "" or len(str(key)) > MAX_KEY_LENGTH:
        raise TypeError(f"{task.name}: concurrency_key returned {shown(key)}; it must return a str (not empty, at "
                        f"most {MAX_KEY_LENGTH} characters) or an int, such as the customer's id")
    return f"{task.name}:{key}"


def wait_ms(waits: int) -> int:
    """How long a delivery put back `waits` times before waits now, in ms."""
    ceiling = min(MAX_WAIT_MS, FIRST_WAIT_MS * 2 ** min(waits, 16))
    return max(1, int(ceiling * random.uniform(0.5, 1.0)))
