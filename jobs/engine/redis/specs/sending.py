"""The scripts that put messages on their queues (sends.py, beat_runs.py, scheduled.py): a send
(enqueue.lua, enqueue_unique.lua), a periodic run (beat_send.lua), scheduled messages sent before
their time (run_scheduled.lua).

enqueue.lua is delay()'s one round trip, so its spec comes in two parts (scripts.SplitScript): what
stays the same for a process, packed once, and what changes at each send.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, NamedTuple

from ..scripts import Grouped, Maybe, Script, Several, SplitScript


class EnqueueKeys(NamedTuple):
    """enqueue.lua's KEYS that stay the same for a process."""

    scheduled: str
    idle: str
    leases: str
    inflight: str
    revoked: str
    workers: str
    expiries: str
    queue_set: str


class EnqueueArgs(NamedTuple):
    """enqueue.lua's ARGV that stay the same for a process."""

    queue_prefix: str
    wake_prefix: str
    idle_prefix: str
    inbox_prefix: str
    sent_prefix: str
    dedup_ms: int


class EnqueueCallKeys(NamedTuple):
    """enqueue.lua's KEYS of one send: the wake list woken if a delayed message is the earliest."""

    delayed_wake: Maybe[str] = None


class EnqueueCallArgs(NamedTuple):
    """enqueue.lua's ARGV of one send: its messages, by kind."""

    n: int
    r: int
    records_ms: str
    names: str
    plain: Annotated[Sequence[str | int], Grouped(3)]
    records: Annotated[Sequence[str], Grouped(2)]
    other: Annotated[Sequence[str | int], Grouped(5)]


ENQUEUE = SplitScript("enqueue", EnqueueKeys, EnqueueArgs, EnqueueCallKeys, EnqueueCallArgs)


class EnqueueUniqueKeys(NamedTuple):
    lock: str
    scheduled: str
    idle: str
    leases: str
    inflight: str
    revoked: str
    workers: str
    wake: str
    expiries: str
    queue_set: str


class EnqueueUniqueArgs(NamedTuple):
    id: str
    lock_ms: int
    queue_prefix: str
    wake_prefix: str
    idle_prefix: str
    inbox_prefix: str
    queue: str
    score: int
    wire: str
    due: str
    expiry: str
    name_queue: str
    sent_prefix: str
    dedup_ms: int


ENQUEUE_UNIQUE = Script("enqueue_unique", EnqueueUniqueKeys, EnqueueUniqueArgs)


class BeatSendKeys(NamedTuple):
    sent: str
    idle: str
    leases: str
    inflight: str
    revoked: str
    workers: str
    expiries: str
    queue_set: str


class BeatSendArgs(NamedTuple):
    periodic_id: int
    due_ms: int
    queue_prefix: str
    wake_prefix: str
    idle_prefix: str
    inbox_prefix: str
    queue: str
    score: int
    wire: str
    expiry: str


BEAT_SEND = Script("beat_send", BeatSendKeys, BeatSendArgs)


class RunScheduledKeys(NamedTuple):
    scheduled: str
    idle: str
    leases: str
    inflight: str
    revoked: str
    workers: str
    dead: str
    dead_order: str
    history: str
    history_dropped: str


class RunScheduledArgs(NamedTuple):
    queue_prefix: str
    wake_prefix: str
    idle_prefix: str
    inbox_prefix: str
    dead_letters_max: int
    history_backlog: int
    result_ms: str
    result_prefix: str
    done_prefix: str
    members: Several[bytes]


RUN_SCHEDULED = Script("run_scheduled", RunScheduledKeys, RunScheduledArgs)


class JoinedKeys(NamedTuple):
    done: str


class JoinedArgs(NamedTuple):
    entry: str


JOINED = Script("joined", JoinedKeys, JoinedArgs)
