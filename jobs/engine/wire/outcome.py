"""Results: how a task's outcome is written (by the worker, inside its ack), read and awaited.

A result is one JSON document under ``{p}:result:<id>`` with an expiry (RESULT_EXPIRES). The worker
writes it in the same atomic step that acknowledges the message, and publishes on ``{p}:done:<id>``,
so get() blocks on a subscription instead of polling. A failed task's exception travels as its class
path, arguments and message; it is rebuilt only from a class already imported in the reading process
that is an Exception subclass. Nothing in a stored result is ever imported or executed (the trap of
CVE-2021-23727), and the value itself is decoded only if its content type is accepted.
"""

from __future__ import annotations

import sys
import time
import traceback as tb
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import DecodeError, EncodeError, TaskFailed
from .arguments import may_nest_deeper, nesting_problem
from .sealing import SHOWN, seal, unseal
from .serializers import decode_value, encode_value, json_dumps, json_loads

PENDING = "PENDING"
STARTED = "STARTED"
RETRY = "RETRY"
SUCCESS = "SUCCESS"
FAILURE = "FAILURE"
REVOKED = "REVOKED"
#: Not a result state in Redis: the history's status of a task moved to the dead letters (Celery's
#: name for a message rejected without running).
REJECTED = "REJECTED"
READY_STATES = frozenset({SUCCESS, FAILURE, REVOKED})
#: The longest custom state name (update_state).
STATE_MAX = 64


def check_state(task: str, state: Any) -> None:
    """A state a running task may set (update_state): its own name, not an outcome."""
    if not isinstance(state, str) or not state.strip() or len(state) > STATE_MAX:
        raise ValueError(f"{task}: update_state(state=...) takes a state name, a non-empty string of at most "
                         f"{STATE_MAX} characters, such as 'PROGRESS'; not {state!r}")
    if state in READY_STATES or state in (PENDING, REJECTED):
        raise ValueError(f"{task}: update_state(state={state!r}): {state} is set by jobs, not by the task (return "
                         "a value for SUCCESS, raise for FAILURE); name a state of your own, such as 'PROGRESS'")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What running a task produced, before it is written anywhere."""

    status: str
    value: Any = None
    exception: BaseException | None = None
    traceback: str | None = None
    reason: str | None = None
    runtime: float = 0.0
    #: For RETRY: seconds until the next run.
    retry_in: float | None = None
    #: Unix time (s) the run started; None if it never did (revoked, expired, refused).
    started_at: float | None = None


@dataclass(frozen=True, slots=True)
class ResultMeta:
    """A stored result, read back (results.decode). The fields after `worker` are those of an
    extended result (JOBS["RESULT_EXTENDED"]), None when it was stored without them."""

    status: str
    value: Any = None
    exception: BaseException | None = None
    traceback: str | None = None
    reason: str | None = None
    task: str | None = None
    date_done: float | None = None
    worker: str | None = None
    #: A custom state's meta (update_state), or STARTED's {"pid", "hostname"}.
    meta: Any = None
    #: As stored: a list (a dict), or a description when they were over STORED_ARGS_MAX (redact.py).
    args: list[Any] | str | None = None
    kwargs: dict[str, Any] | str | None = None
    queue: str | None = None
    retries: int | None = None
    date_started: float | None = None
    runtime: float | None = None
    parent: str | None = None
    retry_at: float | None = None


def encode(outcome: Outcome, task: str, content_type: str, worker: str, about: dict[str, Any] | None = None,
           sealed: bool = False, key: bytes | None = None) -> str:
    """The result document of a run. `about`: what an extended result says of the run (about()).
    `sealed`: its value encrypted with `key` (@task(encrypt=True), sealing.py)."""
    doc: dict[str, Any] = {"status": outcome.status, "task": task, "date_done": time.time(), "worker": worker}
    if about:
        doc.update(about)
    if outcome.started_at is not None:
        doc["date_started"] = outcome.started_at
        doc["runtime"] = outcome.runtime
    if outcome.status == SUCCESS:
        try:
            doc["result"] = encode_value(outcome.value, content_type)
            doc["ct"] = content_type
            if sealed:
                doc.update(result=seal(json_dumps(doc["result"]).encode(), key, f"result of {task}"), e=1)
            text = json_dumps(doc)
            if content_type == "json" and may_nest_deeper(text):
                _check_nesting(outcome.value, task)
            return text
        except Exception as exc:  # TypeError for JSON; pickle raises a zoo (PicklingError, AttributeError...)
            if content_type == "json" and not isinstance(exc, EncodeError):
                try:
                    _check_nesting(outcome.value, task)  # the reason for a RecursionError, or a circle's ValueError
                except EncodeError as deep:
                    exc = deep
            problem = exc if isinstance(exc, EncodeError) else EncodeError(
                f"{task} returned a {type(outcome.value).__name__} that the {content_type} result "
                f"serializer cannot carry ({exc}); return plain data"
            )
            doc.pop("result", None)
            doc.pop("ct", None)
            doc["status"] = FAILURE
            outcome = Outcome(FAILURE, exception=problem, traceback=None)
    if outcome.exception is not None:
        doc["exception"] = describe_exception(outcome.exception)
        doc["traceback"] = outcome.traceback
    if outcome.reason:
        doc["reason"] = outcome.reason
    if outcome.retry_in is not None:
        doc["retry_at"] = doc["date_done"] + outcome.retry_in
    return json_dumps(doc)


def _check_nesting(value: Any, task: str) -> None:
    problem = nesting_problem(value, "the value it returned", root="result")
    if problem:
        raise EncodeError(f"{task}: {problem}")


def encode_state(state: str, meta: Any, task: str, worker: str, started_at: float | None,
                 about: dict[str, Any] | None = None) -> str:
    """The document of a run still going: STARTED, or a custom state with its meta (update_state)."""
    doc: dict[str, Any] = {"status": state, "task": task, "worker": worker, "meta": meta}
    if about:
        doc.update(about)
    if started_at is not None:
        doc["date_started"] = started_at
    return json_dumps(doc)


def about(task_id: str, stored: tuple[Any, Any, bool], queue: str, retries: int, enqueued_at: float,
          parent: str | None) -> dict[str, Any]:
    """What an extended result says of its run, besides its outcome. `stored`: its arguments as they
    may be stored (redact.Redactor.stored); "cut" says they were redacted or described."""
    args, kwargs, complete = stored
    doc: dict[str, Any] = {"id": task_id, "args": args, "kwargs": kwargs, "queue": queue, "retries": retries}
    if not complete:
        doc["cut"] = True
    if enqueued_at:
        doc["date_enqueued"] = enqueued_at
    if parent:
        doc["parent"] = parent
    return doc


def describe_exception(exc: BaseException) -> dict[str, Any]:
    cls = type(exc)
    try:
        message = str(exc)
    except Exception:  # an exception whose __str__ raises must still be reported
        message = f"<{cls.__qualname__} whose str() failed>"
    info: dict[str, Any] = {"module": cls.__module__, "name": cls.__qualname__, "message": message}
    try:
        text = json_dumps(list(exc.args))
        if may_nest_deeper(text) and nesting_problem(list(exc.args), "args"):
            raise ValueError("nested too deeply")  # kept as text, below, like arguments JSON cannot carry
        info["args"] = list(exc.args)
    except Exception:
        # An argument JSON cannot carry (URLError(ConnectionRefusedError(...))) is kept as its text,
        # each apart: the exception rebuilt from them reads as the original did. Its whole message
        # as the one argument would be wrapped again: "<urlopen error <urlopen error ...>>".
        info["args"] = [_plain(arg) for arg in exc.args]
    return info


def _plain(value: Any) -> Any:
    try:
        text = json_dumps(value)
        if not (may_nest_deeper(text) and nesting_problem(value, "")):
            return value
    except Exception:
        pass
    try:
        return str(value)
    except Exception:  # a str() that raises, or recurses too deep
        return f"<{type(value).__qualname__}>"


def format_traceback(exc: BaseException) -> str:
    try:
        return "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:
        return f"{type(exc).__qualname__} (its traceback could not be formatted)"


def rebuild_exception(info: dict[str, Any]) -> BaseException:
    """The task's exception, as its own class when that class is already loaded here and is an
    Exception; otherwise TaskFailed carrying the original class path and message."""
    module, name = info.get("module", ""), info.get("name", "")
    obj: Any = sys.modules.get(module)
    for part in name.split("."):
        obj = getattr(obj, part, None) if obj is not None else None
    if isinstance(obj, type) and issubclass(obj, Exception):
        try:
            return obj(*info.get("args", []))
        except Exception:
            pass
    path = f"{module}.{name}" if module not in ("", "builtins") else name
    return TaskFailed(info.get("message", ""), exc_type=path)


def decode(payload: bytes | str, accept: tuple[str, ...], keys: Sequence[bytes] | None = None) -> ResultMeta:
    """A result document read. An encrypted value (sealing.py) is opened with `keys` (Encrypted if
    none opens it), or, without keys (None: the console, the history), read as "encrypted"."""
    try:
        doc = json_loads(payload)
        status = doc["status"]
    except (ValueError, KeyError, TypeError) as exc:
        raise DecodeError(f"stored result is not readable: {exc}") from exc
    value = None
    exception = None
    if status == SUCCESS and "result" in doc and doc.get("e"):
        value = SHOWN if keys is None else decode_value(
            json_loads(unseal(doc["result"], keys, f"result of {doc.get('task')}")), doc.get("ct", "json"), accept)
    elif status == SUCCESS and "result" in doc:
        value = decode_value(doc["result"], doc.get("ct", "json"), accept)
    if "exception" in doc:
        exception = rebuild_exception(doc["exception"])
    get = doc.get
    return ResultMeta(
        status=status, value=value, exception=exception, traceback=get("traceback"), reason=get("reason"),
        task=get("task"), date_done=get("date_done"), worker=get("worker"), meta=get("meta"), args=get("args"),
        kwargs=get("kwargs"), queue=get("queue"), retries=get("retries"), date_started=get("date_started"),
        runtime=get("runtime"), parent=get("parent"), retry_at=get("retry_at"),
    )
