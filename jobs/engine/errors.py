"""Every error jobs raises, under one root.

The docstring of each class is its default message, so a bare ``raise BrokerUnavailable()`` still
tells the reader what happened and what to do. Errors a user is expected to catch are named for what
went wrong; errors that only steer the worker are named for what the worker does with them.
"""

from __future__ import annotations

import builtins


class JobsError(Exception):
    """Something went wrong in jobs."""

    def __init__(self, message: str | None = None, *args: object) -> None:
        super().__init__(message or (self.__doc__ or "").strip(), *args)


class ConfigurationError(JobsError):
    """The JOBS settings are not valid; see docs/settings.md for every key and its type."""


class ScheduleError(ConfigurationError):
    """A schedule cannot be used; the message says which field and why."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class DuplicateTaskName(ConfigurationError):
    """Two different functions were registered under one task name; give one of them name=..."""


class NotRegistered(JobsError, KeyError):
    """No task is registered under this name: is the module that defines it imported (tasks.py of an
    installed app), and is the name spelled as in @task(name=...)?"""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class EncodeError(JobsError, TypeError):
    """An argument or a result cannot be carried by the serializer: pass plain data (str, int, float,
    bool, None, list, dict, datetime, date, time, Decimal, UUID, bytes) instead."""


class DecodeError(JobsError, ValueError):
    """A message or a result could not be decoded."""


class ContentDisallowed(DecodeError):
    """The content type is not in JOBS["ACCEPT_CONTENT"], so it is not decoded."""


class Encrypted(DecodeError):
    """The value is encrypted (@task(encrypt=True)) and was not opened: no key of JOBS["SIGNING_KEYS"]
    here opens it (the console and the history never try)."""


class BrokerUnavailable(JobsError, ConnectionError):
    """Redis did not answer within JOBS["ENQUEUE_TIMEOUT"]: is it running and is JOBS["BROKER_URL"]
    right? Nothing was enqueued by this call."""


class TimeoutError(JobsError, builtins.TimeoutError):  # noqa: A001 - mirrors celery.exceptions
    """The result was not ready within the timeout given to get(); the task may still finish later."""


class TaskFailed(JobsError):
    """The task failed with an exception whose class is not known in this process; the original type
    and message are kept in .exc_type and the message."""

    def __init__(self, message: str | None = None, exc_type: str = "") -> None:
        super().__init__(message)
        self.exc_type = exc_type

    def __str__(self) -> str:
        text = super().__str__()
        return f"{self.exc_type}: {text}" if self.exc_type else text


# -- raised inside tasks, or stored as their outcome --------------------------------------------


class SoftTimeLimitExceeded(JobsError):
    """The task ran past its soft_time_limit; catch this to clean up before the hard limit."""


class TimeLimitExceeded(JobsError):
    """The task ran past its time_limit and was stopped (its process killed and replaced)."""


class WorkerLostError(JobsError):
    """The process running the task died (killed, out of memory, crashed in C code) before it ended.
    Set reject_on_worker_lost=True on the task to run it again instead."""


class MaxRetriesExceededError(JobsError):
    """The task asked to be retried more often than its max_retries allows."""


class ChordError(JobsError):
    """A chord's callback did not run because one of its members failed."""


class TaskRevoked(JobsError):
    """The task was not run: it was revoked or had expired."""


# -- exceptions that steer the worker; not errors of the task ----------------------------------


class Retry(JobsError):
    """Raised by task.retry(): the worker settles this run and schedules the next one. Raise it
    (``raise self.retry(...)``) so that no code after it runs."""

    def __init__(self, message: str | None = None, exc: BaseException | None = None,
                 when: float | None = None) -> None:
        super().__init__(message or (f"retry in {when:g} s" if when is not None else "retry"))
        self.exc = exc
        self.when = when  # seconds from now

    def __reduce__(self) -> tuple[type[Retry], tuple[str, BaseException | None, float | None]]:  # picklable
        return (Retry, (str(self), self.exc, self.when))


class HardTimeLimit(BaseException):
    """Raised in a solo worker's main thread at the hard time limit. A BaseException, so a task's
    ``except Exception`` cannot swallow it; stored as TimeLimitExceeded."""


class Terminated(BaseException):
    """Raised in a thread (threads or solo pool) whose task was revoked with terminate=True."""


class CheckpointStop(Terminated):
    """Raised by self.checkpoint() in a resumable task that was revoked while it ran (it stops between
    items, its cursor kept), or whose delivery no longer holds it (another worker runs it now). A
    BaseException, like Terminated, so a task's ``except Exception`` does not swallow it."""
