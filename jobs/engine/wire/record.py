"""A row of the task history, as it goes from the history stream to the database, and the store
that takes it (the Django side's, jobs/stores/history.py). Here, below the app that holds the store
and the recorder that writes to it, so that both name them without reaching up to ops/records.py,
which reads records out of the stream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Record:
    """One row of the history, as the database stores it (jobs.models.TaskResult)."""

    task_id: str
    name: str
    status: str
    #: JSON texts, as they may be stored (redact.py); result: the value, or for other states a JSON
    #: object saying what happened ({"exc_type", "exc_message"}, {"reason"}, STARTED's {"pid", ...}).
    args: str | None
    kwargs: str | None
    #: False when the arguments were redacted or described: the task cannot be run again from them.
    args_complete: bool
    result: str | None
    traceback: str | None
    queue: str
    worker: str
    retries: int
    date_enqueued: float | None
    date_started: float | None
    date_done: float | None
    runtime: float | None
    parent_id: str | None
    #: Orders the records of one task id: a row is replaced only by a record of the same or a later stage.
    stage: int


class HistoryStore(Protocol):
    """Where records go: the Django side (jobs/history.py) implements it."""

    #: The longest text each column holds (characters), by field name: clean() cuts to it.
    limits: Mapping[str, int]

    def store(self, records: Sequence[Record]) -> None:
        """Upsert the records (one task id at most once in a batch), all or none."""

    def refused(self, exc: Exception) -> bool:
        """Whether a failed store() was refused for what the records hold (so that writing the
        same records again would fail again), rather than for the database being away."""

    def prune(self, before: float, batch: int) -> int:
        """Delete up to `batch` rows of tasks that ended before `before` (unix time); how many."""

    def reset(self) -> None:
        """After a failed write: drop the connection, so the next write opens a fresh one."""
