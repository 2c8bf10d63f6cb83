"""The task history: what happened to every task, recorded in the database by the workers.

Nothing on a task's path waits for the database. The scripts that settle a task (lib/ack.lua; and
fetch.lua for one revoked or expired before it ran, lib/dead.lua for the dead letters, started.lua
for STARTED) append what happened to a Redis stream in the same atomic step, at no extra round trip.
Each worker runs a recorder (worker/recorder.py, in a process of its own) that reads the stream as
a member of one consumer group, writes what it read to the database in a batch (the HistoryStore the
Django side provides: one upsert statement per batch, jobs/history.py), and only then deletes it
from the stream. So:

- at least once: a recorder killed between the write and the delete leaves its records pending in
  the group; another recorder claims them once they have been idle for a while (CLAIM_IDLE) and
  writes them again. Rows are upserted by task id, so a record written twice is one row;
- in order per task: each record has a stage (retries * 4 + 1 for STARTED, + 2 for RETRY, + 3 for
  an outcome), and a row is only replaced by a record of the same or a later stage, so a batch
  claimed late cannot put a RETRY back over the SUCCESS that followed it;
- bounded: while the database is away the stream grows to HISTORY_BACKLOG records, then successes
  are counted instead of kept, then (at twice that) everything; the recorder logs the counts
  (lib/history.lua).

The database sees one write per batch: a recorder writes at most every half second (WRITE_GAP)
unless its last read filled a batch, so at a thousand tasks a second a write carries hundreds of rows, and a task is
in the database within about a second of ending.

One bad record must never stop the rest (a batch retried as a whole would be blocked by it for
good, and the backlog behind it dropped):

- a record that cannot be read (records_of) is logged once, with the reason, and skipped;
- every record is made storable first (clean): a NUL, which PostgreSQL refuses in text, becomes
  U+FFFD; text longer than its column is cut, ending in "…"; numbers and times out of range are
  dropped or clamped;
- a batch the database still refuses for what is in it (HistoryStore.refused: a DataError or an
  IntegrityError, not a connection that failed) is written in halves, down to the records it
  refuses; each of those is logged once and replaced by a stand-in row (unrecordable) that keeps
  the task's id, name, status and times and says why the rest is missing. A database that is away
  still means: keep the batch, try again later.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import DecodeError, Encrypted
from ..setup.registry import Registry
from ..wire import signing
from ..wire.header import Header
from ..wire.message import decode
from ..wire.outcome import REJECTED, RETRY, STARTED, SUCCESS
from ..wire.record import Record
from ..wire.redact import Redactor
from ..wire.sealing import SHOWN
from ..wire.serializers import json_dumps, json_loads, raw_dumps, raw_loads

logger = logging.getLogger("jobs.history")

_PHASE = {STARTED: 1, RETRY: 2}


def stage(status: str, retries: int) -> int:
    return retries * 4 + _PHASE.get(status, 3)


def records_of(registry: Registry, redactor: Redactor, entries: Sequence[tuple[bytes, bytes, bytes]]) -> list[Record]:
    """The records of stream entries (id, field, value), the latest stage per task id. An entry
    that cannot be read, whatever the reason, is logged and skipped: it must not hold up the rest
    (nor stop the recorder: read again by its next life, it would stop that one too)."""
    latest: dict[str, Record] = {}
    for entry_id, field, value in entries:
        try:
            record = (_from_dead if field == b"x" else _from_result)(registry, redactor, value)
            if not isinstance(record.task_id, str):
                raise TypeError(f"its task id is a {type(record.task_id).__name__}")
        except Exception as exc:
            why = "nested too deeply to be read" if isinstance(exc, RecursionError) else f"{type(exc).__name__}: {exc}"
            logger.error("history record %s could not be read (%s); skipped, the others are written: %.300r",
                         entry_id.decode(errors="replace"), why, value)
            continue
        known = latest.get(record.task_id)
        if known is None or record.stage >= known.stage:
            latest[record.task_id] = record
    return list(latest.values())


#: Text fields, and fields of other types, as clean() makes them storable.
_TEXTS = ("task_id", "name", "status", "args", "kwargs", "result", "traceback", "queue", "worker", "parent_id")
_INTS = ("retries", "stage")
_TIMES = ("date_enqueued", "date_started", "date_done")
#: The largest value of an integer column on every database Django supports (PositiveIntegerField).
INT_MAX = 2_147_483_647
#: Times outside these (unix seconds: 1970 to 9999-12-30) are stored as unknown.
TIME_RANGE = (0.0, 253_402_214_400.0)
#: What marks text cut to fit its column, and what stands for a NUL character.
CUT = "…"
NUL_MARK = "\ufffd"


def clean(record: Record, limits: Mapping[str, int]) -> tuple[Record, list[tuple[str, str]]]:
    """The record as the database can store it, and what had to change: (field, what was done),
    for a log line ([] and the record itself, nearly always: this runs for every row). Text: a NUL
    becomes U+FFFD (PostgreSQL refuses NUL in text), an unpaired surrogate "?" (UTF-8 cannot carry
    one), and text longer than its column (limits) is cut to end in "…"; what is not text becomes
    its str(). Counts are clamped to 0..INT_MAX; times outside TIME_RANGE, and run times that are
    not finite, become None."""
    changes: dict[str, Any] = {}
    said: list[tuple[str, str]] = []
    for name in _TEXTS:
        value = getattr(record, name)
        if value is not None:
            text = _storable(value if type(value) is str else str(value), limits.get(name), name, said)
            if text is not value:
                changes[name] = text
    for name in _INTS:
        value = getattr(record, name)
        if not (type(value) is int and 0 <= value <= INT_MAX):
            changes[name] = _count(value)
            said.append((name, f"{value!r} stored as {changes[name]}"))
    for name in (*_TIMES, "runtime"):
        value = getattr(record, name)
        if value is not None and not (type(value) in (int, float) and (
                TIME_RANGE[0] <= value <= TIME_RANGE[1] if name != "runtime" else math.isfinite(value))):
            changes[name] = None
            said.append((name, f"{value!r} stored as unknown"))
    if type(record.args_complete) is not bool:
        changes["args_complete"] = bool(record.args_complete)
    return (dataclasses.replace(record, **changes), said) if changes else (record, said)


def _storable(text: str, limit: int | None, name: str, said: list[tuple[str, str]]) -> str:
    if "\x00" in text:
        text = text.replace("\x00", NUL_MARK)
        said.append((name, "NUL characters replaced by U+FFFD"))
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "replace").decode("utf-8")
            said.append((name, "unpaired surrogates replaced by '?'"))
    if limit is not None and len(text) > limit:
        text = text[:limit - len(CUT)] + CUT
        said.append((name, f"cut to {limit} characters (ending in {CUT})"))
    return text


def _count(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return 0
    return min(max(number, 0), INT_MAX)


def unrecordable(record: Record, reason: str) -> Record:
    """What stands for a record the database refused: the task's id, name, status, queue, worker
    and times, and instead of its arguments, result and traceback, why they are missing."""
    return dataclasses.replace(
        record, args=None, kwargs=None, args_complete=False, traceback=None,
        result=json_dumps({"unrecordable": f"the database refused this task's history record ({reason}); its "
                                           "arguments, result and traceback are not kept"}))


def _text(value: Any) -> str | None:
    """Values decoded from a message (our types, tags turned back into them): as JSON text."""
    return None if value is None else json_dumps(value)


def _raw_text(value: Any) -> str | None:
    if value is None:
        return None
    if not value and isinstance(value, (list, dict)):
        return "{}" if isinstance(value, dict) else "[]"
    return raw_dumps(value)


def _outcome_text(doc: dict[str, Any]) -> str | None:
    status = doc["status"]
    if status == SUCCESS:
        if doc.get("e"):  # @task(encrypt=True): sealed (wire/sealing.py), and not opened here
            return json_dumps(SHOWN)
        if doc.get("ct", "json") != "json":
            return json_dumps(f"<stored as {doc['ct']}, not shown here>")
        return _raw_text(doc.get("result"))
    exc = doc.get("exception")
    if exc is not None:
        path = exc.get("name", "") if exc.get("module") in (None, "", "builtins") else f"{exc['module']}.{exc['name']}"
        return json_dumps({"exc_type": path, "exc_message": exc.get("message", "")})
    if doc.get("reason"):
        return json_dumps({"reason": doc["reason"]})
    return _raw_text(doc.get("meta"))


def _from_result(registry: Registry, redactor: Redactor, raw: bytes) -> Record:
    """A result document (an ack's, STARTED's, or fetch.lua's for a message it revoked: that one
    carries the message, whose arguments are read here)."""
    doc = raw_loads(raw)  # its values pass through as they are (tags and all): read once, written as text
    status = doc["status"]
    complete = not doc.get("cut") and "args" in doc
    args, kwargs = _raw_text(doc.get("args")), _raw_text(doc.get("kwargs"))
    retries = doc.get("retries") or 0
    enqueued, parent = doc.get("date_enqueued"), doc.get("parent")
    if "message" in doc:
        values, kw, complete, retries, enqueued, parent = _message(registry, redactor, doc["message"],
                                                                   doc.get("queue", ""))
        args, kwargs = _text(values), _text(kw)
    return Record(
        task_id=doc["id"], name=doc.get("task") or "", status=status, args=args, kwargs=kwargs,
        args_complete=complete, result=_outcome_text(doc), traceback=doc.get("traceback"), queue=doc.get("queue") or "",
        worker=doc.get("worker") or "", retries=retries, date_enqueued=enqueued,
        date_started=doc.get("date_started"), date_done=doc.get("date_done"), runtime=doc.get("runtime"),
        parent_id=parent, stage=stage(status, retries))


def _from_dead(registry: Registry, redactor: Redactor, raw: bytes) -> Record:
    """A dead letter's record (lib/dead.lua): REJECTED, with the reason and the message."""
    doc = json_loads(raw)
    if str(doc.get("reason", "")).startswith(signing.REASON):  # never read, here neither: its header names it
        args, kwargs, complete, retries, enqueued, parent = f"<not shown: {signing.REASON}>", None, False, 0, None, None
    else:
        args, kwargs, complete, retries, enqueued, parent = _message(registry, redactor, doc.get("message", ""),
                                                                     doc.get("queue", ""))
    return Record(
        task_id=doc["task_id"], name=doc.get("task") or "", status=REJECTED, args=_text(args), kwargs=_text(kwargs),
        args_complete=complete, result=json_dumps({"reason": doc.get("reason", "")}), traceback=None,
        queue=doc.get("queue") or "", worker=doc.get("worker") or "", retries=retries, date_enqueued=enqueued,
        date_started=None,
        date_done=doc.get("time"), runtime=None, parent_id=parent, stage=stage(REJECTED, retries))


def _message(registry: Registry, redactor: Redactor, wire: str,
             queue: str) -> tuple[Any, Any, bool, int, float | None, str | None]:
    """(args, kwargs, complete, retries, enqueued, parent) of a wire message no worker read, as they
    may be stored. Decoded as JSON only: the arguments of one sent with pickle are not unpickled here."""
    try:
        message = decode(wire, queue, ("json",))
    except Encrypted:  # @task(encrypt=True): not opened here (no keys given)
        return SHOWN, None, False, 0, Header(wire).enqueued_at, None
    except DecodeError as exc:
        try:
            header = Header(wire)
        except DecodeError:
            return "<not readable>", None, False, 0, None, None
        return f"<not shown: {exc}>", None, False, 0, header.enqueued_at, None
    task = registry.find(message.task)
    args, kwargs, complete = redactor.stored(task.fn if task else None, message.args, message.kwargs,
                                           bool(task and task.bind))
    return args, kwargs, complete, message.retries, message.enqueued_at, message.options.parent
