"""The scripts of leases (leases.py): a worker's renewals (renew.lua), deliveries handed back at
once (requeue.lua), the maintenance every worker runs about once a second (maintain.lua), and the
first heartbeat a worker writes as it starts (hello.lua, workers.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, NamedTuple

from ..scripts import Grouped, Script, Several


class RenewKeys(NamedTuple):
    leases: str


class RenewArgs(NamedTuple):
    lease_ms: int
    report_lost: str
    tokens: Several[str]


RENEW = Script("renew", RenewKeys, RenewArgs)


class RequeueKeys(NamedTuple):
    leases: str
    inflight: str
    dead: str
    dead_order: str
    idle: str
    revoked: str
    workers: str
    history: str
    history_dropped: str


class RequeueArgs(NamedTuple):
    queue_prefix: str
    wake_prefix: str
    lost: str
    max_deliveries: int
    dead_letters_max: int
    idle_prefix: str
    inbox_prefix: str
    forget: str
    history_backlog: int
    result_ms: str
    result_prefix: str
    done_prefix: str
    tokens: Several[str]


REQUEUE = Script("requeue", RequeueKeys, RequeueArgs)


class MaintainKeys(NamedTuple):
    scheduled: str
    leases: str
    inflight: str
    workers: str
    dead: str
    dead_order: str
    revoked: str
    terminate: str
    last_run: str
    idle: str
    expiries: str
    history: str
    history_dropped: str
    running: str
    shutdown: str


class MaintainArgs(NamedTuple):
    queue_prefix: str
    wake_prefix: str
    limit: int
    worker_id: str
    max_deliveries: int
    dead_letters_max: int
    revoked_ms: str
    lease_ms: int
    idle_prefix: str
    inbox_prefix: str
    history_backlog: int
    running_ms: int
    result_ms: str
    result_prefix: str
    done_prefix: str
    running: Annotated[Sequence[str | int], Grouped(2)]


MAINTAIN = Script("maintain", MaintainKeys, MaintainArgs)


class HelloKeys(NamedTuple):
    queues: str
    workers: str


class HelloArgs(NamedTuple):
    worker_id: str
    queue_names: Several[str]


HELLO = Script("hello", HelloKeys, HelloArgs)
