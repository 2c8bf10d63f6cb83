"""The scripts of operators, beat and the history's recorders: controls (revoke.lua, purge.lua,
pause.lua, resume.lua, shutdown.lua; controls.py), the dead letters (dead_requeue.lua,
dead_discard.lua, dead_purge.lua; dead_letters.py), a role one process holds at a time (lead.lua,
beat_resign.lua; beat_runs.py, history_stream.py), the history stream (history_claim.lua,
history_done.lua, history_dropped.lua, history_sweep.lua) and the error-email throttle
(mail_throttle.lua; results.py)."""

from __future__ import annotations

from typing import NamedTuple

from ..scripts import Script, Several


class RevokeKeys(NamedTuple):
    revoked: str
    terminate: str


class RevokeArgs(NamedTuple):
    terminate: str
    ids: Several[str]


REVOKE = Script("revoke", RevokeKeys, RevokeArgs)


class PurgeKeys(NamedTuple):
    queue: str


class NoArgs(NamedTuple):
    """The ARGV of a script that takes none (purge.lua, history_dropped.lua)."""


PURGE = Script("purge", PurgeKeys, NoArgs)


class PauseKeys(NamedTuple):
    paused: str
    idle_list: str


class QueueNameArgs(NamedTuple):
    """The ARGV of pause.lua and resume.lua."""

    name: str


PAUSE = Script("pause", PauseKeys, QueueNameArgs)


class ResumeKeys(NamedTuple):
    paused: str
    queue: str
    wake: str


RESUME = Script("resume", ResumeKeys, QueueNameArgs)


class ShutdownKeys(NamedTuple):
    workers: str
    shutdown: str


class ShutdownArgs(NamedTuple):
    worker_id: str
    alive_ms: int


SHUTDOWN = Script("shutdown", ShutdownKeys, ShutdownArgs)


class DeadLettersKeys(NamedTuple):
    """The KEYS of dead_discard.lua and dead_purge.lua."""

    dead: str
    dead_order: str


class DeadDiscardArgs(NamedTuple):
    ids: Several[str]


DEAD_DISCARD = Script("dead_discard", DeadLettersKeys, DeadDiscardArgs)


class DeadPurgeArgs(NamedTuple):
    upto: str


DEAD_PURGE = Script("dead_purge", DeadLettersKeys, DeadPurgeArgs)


class DeadRequeueKeys(NamedTuple):
    dead: str
    dead_order: str
    queue_set: str


class DeadRequeueArgs(NamedTuple):
    queue_prefix: str
    wake_prefix: str
    ids: Several[str]


DEAD_REQUEUE = Script("dead_requeue", DeadRequeueKeys, DeadRequeueArgs)


class OutboxDeadKeys(NamedTuple):
    dead: str
    dead_order: str
    history: str
    history_dropped: str


class OutboxDeadArgs(NamedTuple):
    entry: str
    reason: str
    worker: str
    dead_letters_max: int
    history_backlog: int
    result_ms: str
    result_prefix: str
    done_prefix: str


OUTBOX_DEAD = Script("outbox_dead", OutboxDeadKeys, OutboxDeadArgs)


class LeadKeys(NamedTuple):
    role: str


class LeadArgs(NamedTuple):
    holder: str
    lease_ms: int


LEAD = Script("lead", LeadKeys, LeadArgs)


class BeatResignKeys(NamedTuple):
    leader: str


class BeatResignArgs(NamedTuple):
    beat_id: str


BEAT_RESIGN = Script("beat_resign", BeatResignKeys, BeatResignArgs)


class HistoryClaimKeys(NamedTuple):
    history: str
    workers: str


class HistoryClaimArgs(NamedTuple):
    group: str
    consumer: str
    idle_ms: int
    dead_ms: int
    limit: int


HISTORY_CLAIM = Script("history_claim", HistoryClaimKeys, HistoryClaimArgs)


class HistoryKeys(NamedTuple):
    """The KEYS of history_done.lua and history_sweep.lua."""

    history: str


class HistoryDoneArgs(NamedTuple):
    group: str
    ids: Several[bytes]


HISTORY_DONE = Script("history_done", HistoryKeys, HistoryDoneArgs)


class HistoryDroppedKeys(NamedTuple):
    history_dropped: str


HISTORY_DROPPED = Script("history_dropped", HistoryDroppedKeys, NoArgs)


class HistorySweepArgs(NamedTuple):
    group: str
    consumer: str
    idle_ms: int | str


HISTORY_SWEEP = Script("history_sweep", HistoryKeys, HistorySweepArgs)


class MailThrottleKeys(NamedTuple):
    throttle: str
    failures: str


class MailThrottleArgs(NamedTuple):
    interval_ms: int


MAIL_THROTTLE = Script("mail_throttle", MailThrottleKeys, MailThrottleArgs)
