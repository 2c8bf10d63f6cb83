"""The run a task is in: what a bound task sees as `self.request`, and what log records carry.

A context variable, not a thread-local: an async task sees its own request beside the others on its
event loop, and a sync task's thread sees its own."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any, Protocol

from .message import Message


@dataclass(frozen=True, slots=True)
class Request:
    """What a bound task sees as self.request while it runs."""

    id: str
    task: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str | None = None
    eta: float | None = None
    expires: float | None = None
    retries: int = 0
    delivery_count: int = 1
    hostname: str | None = None
    is_eager: bool = False
    headers: dict[str, Any] = field(default_factory=dict)
    #: For a task that keeps its attempts (TaskDefinition.keeps_attempts): its list as this run
    #: started (decoded entries of keys.attempts: its enqueue, each start, each error; this start
    #: last). Empty otherwise.
    attempts: tuple[dict[str, Any], ...] = ()
    #: For a resumable task (@task(resumable=True)): the cursor of its last checkpoint (self.checkpoint),
    #: where this run starts; None on its first run.
    cursor: Any = None

    @classmethod
    def of(cls, message: Message, hostname: str, eager: bool = False) -> Request:
        return cls(id=message.id, task=message.task, args=message.args, kwargs=message.kwargs,
                   queue=message.queue, eta=message.eta, expires=message.expires, retries=message.retries,
                   delivery_count=message.deliveries + 1, hostname=hostname, is_eager=eager,
                   headers=dict(message.options.headers or {}))


@dataclass(frozen=True, slots=True)
class ExceptionInfo:
    """What on_failure/on_retry get as `einfo` (Celery's name): the exception and its traceback text."""

    exception: BaseException
    traceback: str

    @property
    def type(self) -> type[BaseException]:
        return type(self.exception)


class StateReporter(Protocol):
    """Where a running task's update_state() goes (worker/progress.py); none in EAGER mode."""

    def update(self, state: str, meta: Any) -> None: ...

    def checkpoint(self, cursor: Any) -> None: ...


_request: contextvars.ContextVar[Request | None] = contextvars.ContextVar("jobs_request", default=None)
_reporter: contextvars.ContextVar[StateReporter | None] = contextvars.ContextVar("jobs_reporter", default=None)

Tokens = tuple[contextvars.Token[Request | None], contextvars.Token[StateReporter | None]]


def current_request() -> Request | None:
    return _request.get()


def current_reporter() -> StateReporter | None:
    return _reporter.get()


def set_request(request: Request | None, reporter: StateReporter | None = None) -> Tokens:
    return _request.set(request), _reporter.set(reporter)


def clear_request(tokens: Tokens) -> None:
    _request.reset(tokens[0])
    _reporter.reset(tokens[1])
