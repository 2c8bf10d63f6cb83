"""The scripts of a consumer's deliveries (deliveries.py, runs.py): take and settle (fetch.lua,
ack.lua), and what it does with a delivery it holds, each fenced by the delivery's token
(ack_early.lua, started.lua, defer.lua, rate.lua, slot.lua, checkpoint.lua, dead.lua).

fetch and ack are a consumer's round trips, so their specs come in two parts (scripts.SplitScript):
what stays the same for a consumer, packed once, and what changes at each call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, NamedTuple

from ..scripts import Grouped, Maybe, Script, Several, SplitScript


class FetchKeys(NamedTuple):
    """fetch.lua's KEYS that stay the same for a consumer (its queues and their wake lists)."""

    leases: str
    inflight: str
    scheduled: str
    revoked: str
    dead: str
    dead_order: str
    idle: str
    inbox: str
    workers: str
    expiries: str
    history: str
    history_dropped: str
    stats: str
    paused: str
    queues: Several[str]
    wakes: Several[str]


class FetchArgs(NamedTuple):
    """fetch.lua's ARGV that stay the same for a consumer."""

    nq: int
    lease_ms: int
    token_prefix: str
    result_ms: str
    result_prefix: str
    done_prefix: str
    queue_prefix: str
    wake_prefix: str
    dead_letters_max: int
    idle_prefix: str
    inbox_prefix: str
    worker_id: str
    history_backlog: int
    queue_names: Several[str]


class FetchCallKeys(NamedTuple):
    """fetch.lua's KEYS of one call: the result key of each ack it carries."""

    results: Several[str]


class FetchCallArgs(NamedTuple):
    """fetch.lua's ARGV of one call."""

    want: int
    first_seq: int
    woken: int
    registered_seq: int | str
    register: int
    n_acks: int
    acks: Annotated[Sequence[str | int], Grouped(7)]
    counts: str


FETCH = SplitScript("fetch", FetchKeys, FetchArgs, FetchCallKeys, FetchCallArgs)


class AckKeys(NamedTuple):
    """ack.lua's KEYS that stay the same for a broker."""

    leases: str
    inflight: str
    scheduled: str
    history: str
    history_dropped: str


class AckArgs(NamedTuple):
    """ack.lua's ARGV that stay the same for a broker."""

    result_ms: str
    history_backlog: int


class AckCallKeys(NamedTuple):
    results: Several[str]


class AckCallArgs(NamedTuple):
    n_acks: int
    acks: Annotated[Sequence[str | int], Grouped(7)]
    counts: str


ACK = SplitScript("ack", AckKeys, AckArgs, AckCallKeys, AckCallArgs)


class AckEarlyKeys(NamedTuple):
    inflight: str


class AckEarlyArgs(NamedTuple):
    token: str


ACK_EARLY = Script("ack_early", AckEarlyKeys, AckEarlyArgs)


class StartedKeys(NamedTuple):
    inflight: str
    result: str
    history: str
    history_dropped: str
    attempts: Maybe[str] = None


class StartedArgs(NamedTuple):
    token: str
    payload: str
    result_ms: str
    history_backlog: int
    attempt: Maybe[str] = None


STARTED = Script("started", StartedKeys, StartedArgs)


class DeferKeys(NamedTuple):
    leases: str
    inflight: str
    scheduled: str


class DeferArgs(NamedTuple):
    token: str
    due: str
    member: str


DEFER = Script("defer", DeferKeys, DeferArgs)


class RateKeys(NamedTuple):
    leases: str
    inflight: str
    scheduled: str
    budgets: Several[str]


class RateArgs(NamedTuple):
    token: str
    waited: str
    member: str
    intervals: Several[float]


RATE = Script("rate", RateKeys, RateArgs)


class DeadKeys(NamedTuple):
    leases: str
    inflight: str
    dead: str
    dead_order: str
    history: str
    history_dropped: str


class DeadArgs(NamedTuple):
    token: str
    reason: str
    worker: str
    dead_letters_max: int
    history_backlog: int
    result_ms: str
    result_prefix: str
    done_prefix: str


DEAD = Script("dead", DeadKeys, DeadArgs)


class SlotKeys(NamedTuple):
    leases: str
    inflight: str
    scheduled: str
    holders: str
    slots: str
    limits: str


class SlotArgs(NamedTuple):
    token: str
    limit: int
    member: str
    due: str
    name: str
    slot_prefix: str
    idle_ms: int


SLOT = Script("slot", SlotKeys, SlotArgs)


class CheckpointKeys(NamedTuple):
    inflight: str
    cursor: str
    revoked: str


class CheckpointArgs(NamedTuple):
    token: str
    cursor: str
    result_ms: str
    id: str


CHECKPOINT = Script("checkpoint", CheckpointKeys, CheckpointArgs)
