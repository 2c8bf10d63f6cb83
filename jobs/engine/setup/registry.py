"""Task name -> task. A worker runs only what is registered here; a name is a contract between the
process that enqueues and the one that runs, so two functions under one name is an error at start-up,
never a coin toss at run time."""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import DuplicateTaskName, NotRegistered
from .definition import TaskDefinition


class Registry:
    def __init__(self) -> None:
        self._tasks: dict[str, TaskDefinition] = {}

    def register(self, task: TaskDefinition) -> None:
        existing = self._tasks.get(task.name)
        if existing is not None and existing.origin != task.origin:
            raise DuplicateTaskName(
                f"task name {task.name!r} is used twice: by {existing.origin} and by {task.origin}; "
                "give one of them @task(name='...')"
            )
        # Same origin: the module was imported again (e.g. under another name); keep the newest.
        self._tasks[task.name] = task

    def get(self, name: str) -> TaskDefinition:
        try:
            return self._tasks[name]
        except KeyError:
            raise NotRegistered(
                f"no task is registered as {name!r}; known tasks: {', '.join(sorted(self._tasks)) or 'none'}"
            ) from None

    def find(self, name: str) -> TaskDefinition | None:
        """The task registered as `name`, or None: a name this process does not import (a task only
        the workers know) is no error for a sender."""
        return self._tasks.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._tasks))

    def __len__(self) -> int:
        return len(self._tasks)

    def unregister(self, name: str) -> None:
        self._tasks.pop(name, None)


#: The registry @task writes to, like Celery's shared_task: tasks need no app object to be declared.
registry = Registry()
