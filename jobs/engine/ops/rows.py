"""The rows an operator's pages list, as the monitor (monitor.py) makes them from what Redis holds:
a worker, a message a worker holds or the scheduled set keeps, a queue, a dead letter. Plain frozen
values: the console, the management command and the metrics read them without knowing Redis."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import DecodeError
from ..wire.header import Header


@dataclass(frozen=True)
class WorkerInfo:
    """A worker as its heartbeat and its record show it."""

    id: str
    hostname: str
    queues: list[str]
    pool: str
    concurrency: int
    last_seen: float  # seconds ago
    alive: bool
    extra: dict[str, Any] = field(default_factory=dict)
    #: Outcomes it settled, and of those FAILURE, while its record lives (keys.worker_counts).
    processed: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Held:
    """A message held by a worker (running, or about to), or waiting in the scheduled set."""

    id: str
    task: str
    queue: str
    #: Running: the worker's hostname ('' if its heartbeat is gone) and seconds left on its lease.
    #: Scheduled: '' and the seconds until it is due (negative: overdue, promoted at the next tick).
    worker: str
    seconds: float
    enqueued_at: float
    #: The message's header could not be read (it goes to the dead letters when taken).
    readable: bool = True
    #: Running: the id of the worker that holds it ('' as for `worker`), and when its task started
    #: (unix s, Redis's clock; None while it is only prefetched, or for an async task).
    worker_id: str = ""
    started_at: float | None = None
    #: Running: for how long (s), on Redis's clock as started_at is, so a reader whose host clock is
    #: off shows the true time; None with started_at.
    running_for: float | None = None
    #: The message as it travels (its arguments, for a page to show through redact.py).
    wire: bytes = b""
    #: Scheduled: the member of the scheduled set, as run_scheduled/delete_scheduled take it, and
    #: its score there (when due, unix ms: where to find it again in one round trip).
    member: bytes = b""
    due: float = 0.0

    @classmethod
    def read(cls, wire: bytes, queue: str, worker: str, seconds: float, **more: Any) -> Held:
        """The row of a message as it travels; one whose header cannot be read is shown as such."""
        try:
            header = Header(wire.decode("utf-8"))
        except (UnicodeDecodeError, DecodeError):
            return cls("", Header.describe(wire), queue, worker, seconds, 0.0, readable=False, wire=wire, **more)
        return cls(header.id, header.task, queue, worker, seconds, header.enqueued_at, wire=wire, **more)


@dataclass(frozen=True)
class QueueInfo:
    """A queue as the console lists it."""

    name: str
    length: int
    by_priority: dict[int, int]  # priority -> messages waiting, for the priorities that have any
    latency: float | None  # age (s) of the message next in line; None when empty
    paused_since: float | None  # unix s
    consumers: list[str]  # hostnames of the live workers that consume it
    throughput: float  # tasks ended per minute, over the last THROUGHPUT_MINUTES (and this one so far)


@dataclass(frozen=True)
class SlotInfo:
    """A concurrency limit's slot (the task's name, and its key if it has one) and its runs now."""

    name: str
    in_use: int
    limit: int


@dataclass(frozen=True)
class DeadLetter:
    """A message kept in the dead letters, with why and where it came from."""

    id: str  # its own: the task id, or "<task id>#2"... when that task id has several (lua/lib/dead.lua)
    task: str
    queue: str
    reason: str
    time: float
    worker: str
    message: str
    task_id: str = ""

    @classmethod
    def parse(cls, raw: bytes) -> DeadLetter:
        # A message written into a queue by hand need not be UTF-8, and its record holds it as it was.
        doc = json.loads(raw.decode("utf-8", "replace"))
        return cls(doc.get("id", ""), doc.get("task", ""), doc.get("queue", ""), doc.get("reason", ""),
                   float(doc.get("time", 0)), doc.get("worker", ""), doc.get("message", ""),
                   doc.get("task_id") or doc.get("id", ""))
