"""django.tasks itself, from wherever this Django has it: Django 6's own, or the django-tasks backport
on Django 5.2 (pip install "django-jobs[django-tasks]"). The backend's modules (backend.py,
backend_definition.py, backend_results.py) take its names from here alone, so that each reads the
same on both.

Type checkers read Django 6's, which django-stubs describes and the backport matches name for name;
there Task and TaskResult are generic (AnyTask, AnyResult, and P, R for a call's own), where at run
time neither Django's nor the backport's takes a parameter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    from django.tasks import Task as Task
    from django.tasks import TaskResult as TaskResult
    from django.tasks import TaskResultStatus as TaskResultStatus
    from django.tasks.backends.base import BaseTaskBackend as BaseTaskBackend
    from django.tasks.base import TaskContext as TaskContext
    from django.tasks.base import TaskError as TaskError
    from django.tasks.exceptions import InvalidTask as InvalidTask
    from django.tasks.exceptions import InvalidTaskBackend as InvalidTaskBackend
    from django.tasks.exceptions import TaskResultDoesNotExist as TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued as task_enqueued
    from django.tasks.signals import task_finished as task_finished
    from django.tasks.signals import task_started as task_started
    from django.utils.json import normalize_json as normalize_json

    AnyTask = Task[..., Any]
    AnyResult = TaskResult[..., Any]
else:
    try:  # Django 6
        from django.tasks import Task, TaskResult, TaskResultStatus
        from django.tasks.backends.base import BaseTaskBackend
        from django.tasks.base import TaskContext, TaskError
        from django.tasks.exceptions import InvalidTask, InvalidTaskBackend, TaskResultDoesNotExist
        from django.tasks.signals import task_enqueued, task_finished, task_started
        from django.utils.json import normalize_json
    except ImportError:  # Django 5.2 with the backport
        from django_tasks import TaskResult, TaskResultStatus
        from django_tasks.backends.base import BaseTaskBackend
        from django_tasks.base import Task, TaskContext, TaskError
        from django_tasks.exceptions import InvalidTaskBackendError as InvalidTaskBackend
        from django_tasks.exceptions import InvalidTaskError as InvalidTask
        from django_tasks.exceptions import TaskResultDoesNotExist
        from django_tasks.signals import task_enqueued, task_finished, task_started
        from django_tasks.utils import normalize_json

    AnyTask = Task
    AnyResult = TaskResult

#: A call's own parameters and return value, for what keeps them (enqueue: its Task -> its TaskResult).
P = ParamSpec("P")
R = TypeVar("R")

__all__ = ["AnyResult", "AnyTask", "BaseTaskBackend", "InvalidTask", "InvalidTaskBackend", "P", "R", "Task",
           "TaskContext", "TaskError", "TaskResult", "TaskResultDoesNotExist", "TaskResultStatus", "normalize_json",
           "task_enqueued", "task_finished", "task_started"]
