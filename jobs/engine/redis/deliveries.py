"""Deliveries: what a consumer takes from Redis and gives back settled (lua/fetch.lua, lua/ack.lua).

    fetch(plan, want, ...)   settle the acks it carries, then take up to `want` messages, each leased
                             and recorded in flight under a fresh delivery token, in one step
    ack(acks) / send_ack()   settle without taking more (awaited, or read later with ack_reply())
    wait(plan)               an idle consumer's blocking wait on its queues' wake lists (BLPOP)

A fetch's keys and constant arguments are packed once per consumer (FetchPlan), an ack's once per
broker: the fetch is the worker's one round trip per batch of tasks, and redis-py's per-argument
encoding was its largest cost.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError

from .connection import Link
from .part import Part
from .specs.consuming import (
    ACK,
    FETCH,
    AckArgs,
    AckCallArgs,
    AckCallKeys,
    AckKeys,
    FetchArgs,
    FetchCallArgs,
    FetchCallKeys,
    FetchKeys,
)
from .tally import TALLY

if TYPE_CHECKING:
    from .part import Core

#: An idle consumer's blocking wait is cut into slices this long: a safety net for a connection
#: that died silently, and the renewal of its idle registration (stale after 8 s, lib/deliver.lua).
#: Not a polling interval: a hand-off or a wake token ends the wait at once.
WAIT_SLICE = 5
#: A fetch that settles nothing carries no result keys (made once: a consumer fetches often).
_NO_ACKS = FetchCallKeys(results=())


@dataclass(slots=True)
class Ack:
    """A finished delivery to settle, fenced by its token. payload '' = no result; retry_member
    (with retry_delay_ms, counted on Redis's clock) = the next run, scheduled in the same atomic step."""

    token: str
    task_id: str
    payload: str
    retry_delay_ms: int = 0
    retry_member: str = ""
    #: What a workflow does in the same step (worker/followup.py; lib/ack.lua): JSON, or "" for a plain task.
    extra: str = ""
    task: str = ""  # its name, for what is logged if the ack is refused
    #: What the history records of it (lib/ack.lua): '' nothing, else 's' (a success) or 'f', then
    #: the document, or '=' for the payload itself.
    history: str = ""


@dataclass(slots=True)
class Delivery:
    """A message a consumer holds: its delivery token (which fences it), its queue, its wire form."""

    token: str
    queue: str
    wire: bytes
    #: Sent with `expires`: the time.monotonic() after which it must not start (from the time it
    #: had left by Redis's clock when it was taken, counted from the fetch's send).
    deadline: float | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """An ack refused: its token no longer held the task (lib/ack.lua)."""

    token: str
    stored: bool  # the task has a result all the same (another worker's, or this ack's first attempt)


def _refusals(flat: list[Any]) -> list[Refused]:
    return [Refused(flat[i].decode(), bool(flat[i + 1])) for i in range(0, len(flat), 2)]


@dataclass(slots=True)
class Fetched:
    """What one fetch call did (lua/fetch.lua): acks refused, messages taken, messages not run."""

    refused: list[Refused]  # acks refused (their lease had been lost)
    deliveries: list[Delivery]
    revoked: list[tuple[str, str, str, str]]  # (id, task, reason, queue) of messages marked REVOKED, not run
    next_due: float | None = None  # nothing taken: seconds until the next scheduled message is due
    registered: bool = False  # nothing taken: registered idle, a producer may hand a message over


class FetchPlan:
    """The parts of a consumer's fetch call that never change, packed once (scripts.SplitScript)."""

    __slots__ = ("queues", "wakes", "inbox", "prefix", "call")

    def __init__(self, broker: Core, queues: Sequence[str], token_prefix: str, worker_id: str = "") -> None:
        keys, config = broker.keys, broker.config
        self.queues = list(queues)
        self.prefix = token_prefix
        self.wakes = [keys.wake(q) for q in queues]
        self.inbox = keys.inbox(token_prefix)
        self.call = FETCH.prepare(
            FetchKeys(leases=keys.leases, inflight=keys.inflight, scheduled=keys.scheduled, revoked=keys.revoked,
                      dead=keys.dead, dead_order=keys.dead_order, idle=keys.idle, inbox=self.inbox,
                      workers=keys.workers, expiries=keys.expiries, history=keys.history,
                      history_dropped=keys.history_dropped, stats=keys.stats, paused=keys.paused,
                      queues=[keys.queue(q) for q in queues], wakes=self.wakes),
            FetchArgs(nq=len(queues), lease_ms=broker.lease_ms, token_prefix=token_prefix, result_ms=broker.ttl_ms,
                      result_prefix=keys.result_prefix, done_prefix=keys.done_prefix, queue_prefix=keys.queue_prefix,
                      wake_prefix=keys.wake_prefix, dead_letters_max=config.dead_letters_max,
                      idle_prefix=keys.idle_prefix, inbox_prefix=keys.inbox_prefix, worker_id=worker_id,
                      history_backlog=broker.history_max, queue_names=self.queues))


class Deliveries(Part):
    """broker.deliveries: a consumer's fetch, acks and idle wait."""

    def __init__(self, broker: Core) -> None:
        super().__init__(broker)
        k = broker.keys
        self._ack = ACK.prepare(AckKeys(leases=k.leases, inflight=k.inflight, scheduled=k.scheduled, history=k.history,
                                        history_dropped=k.history_dropped),
                                AckArgs(result_ms=broker.ttl_ms, history_backlog=broker.history_max))

    def plan(self, queues: Sequence[str], token_prefix: str = "", worker_id: str = "") -> FetchPlan:
        """worker_id: whose heartbeat vouches for this consumer when it registers idle."""
        return FetchPlan(self.b, queues, token_prefix, worker_id)

    def _ack_parts(self, acks: Sequence[Ack]) -> tuple[list[str], list[str | int]]:
        keys: list[str] = []
        args: list[str | int] = []
        result, done = self.b.keys.result, self.b.keys.done
        for ack in acks:
            keys.append(result(ack.task_id))
            args += (ack.token, ack.payload, done(ack.task_id), ack.retry_delay_ms, ack.retry_member, ack.extra,
                     ack.history)
        return keys, args

    def fetch(
        self,
        plan: FetchPlan,
        want: int,
        first_seq: int,
        woken: bool = False,
        acks: Sequence[Ack] = (),
        link: Link | None = None,
        spin: bool = False,
        registered_seq: int | None = None,
        register: bool = False,
        flush: bool = False,
    ) -> Fetched:
        """Settle `acks`, then take up to `want` messages; delivery k carries token
        ``plan.prefix + str(first_seq + k)``. One round trip, most of it packed in advance.
        spin: wait for the reply spinning (lower latency, more CPU), for the fetch after a wake-up.
        flush: carry this process's counts for the metrics even if the last batch left less than
        tally.FLUSH_SECONDS ago (a consumer likely to wait next: then flush_counts has nothing to send)."""
        sent = time.monotonic()
        ack_keys, ack_args = self._ack_parts(acks)
        call = FetchCallArgs(want=want, first_seq=first_seq, woken=1 if woken else 0,
                             registered_seq="" if registered_seq is None else registered_seq,
                             register=1 if register else 0, n_acks=len(acks), acks=ack_args,
                             counts=TALLY.take(self.b.keys, force=flush))
        reply = plan.call(link or self.b.link, FetchCallKeys(results=ack_keys) if acks else _NO_ACKS, call, spin)
        refused, out, revoked, next_due, now, registered, left = reply
        names, prefix = plan.queues, plan.prefix
        deliveries = [
            Delivery(f"{prefix}{int(out[k + 2])}", names[int(out[k]) - 1], out[k + 1])
            for k in range(0, len(out), 3)
        ]
        if left:  # messages sent with `expires`: how long each has left to start, by Redis's clock
            expiring = {int(left[i]): int(left[i + 1]) / 1000 for i in range(0, len(left), 2)}
            for d in deliveries:
                seconds = expiring.get(int(d.token[len(prefix):]))
                d.deadline = None if seconds is None else sent + seconds
        skipped = [(revoked[i].decode(), revoked[i + 1].decode(), revoked[i + 2].decode(), revoked[i + 3].decode())
                   for i in range(0, len(revoked), 4)]
        due_in = (float(next_due) - float(now)) / 1000 if next_due else None
        return Fetched(_refusals(refused) if refused else [], deliveries, skipped, due_in, bool(registered))

    def ack(self, acks: Sequence[Ack], link: Link | None = None) -> list[Refused]:
        """Settle deliveries; returns those refused (their lease had been lost)."""
        if not acks:
            return []
        ack_keys, ack_args = self._ack_parts(acks)
        call = AckCallArgs(n_acks=len(acks), acks=ack_args, counts=TALLY.take(self.b.keys, force=True))
        return _refusals(self._ack(link or self.b.link, AckCallKeys(results=ack_keys), call))

    def send_ack(self, acks: Sequence[Ack]) -> None:
        """Settle deliveries without waiting for the reply (read it with ack_reply()): a consumer
        sends the acks that waited ACK_DELAY this way, and goes on with its next task."""
        ack_keys, ack_args = self._ack_parts(acks)
        call = AckCallArgs(n_acks=len(acks), acks=ack_args, counts=TALLY.take(self.b.keys))
        self._ack.send(self.b.link, AckCallKeys(results=ack_keys), call)

    def load_ack(self) -> None:
        """Make sure Redis has ack.lua before send_ack() relies on it: a NOSCRIPT reply read only
        later would hold the result back until then."""
        self.b.link.call("SCRIPT", "LOAD", ACK.loaded.source)

    def ack_reply(self) -> list[Refused] | None:
        """The reply to the oldest send_ack(); None if it did not run (Redis had lost its scripts,
        a restart): then it is the caller's to send again. For a private() broker whose connection
        carries nothing else, so that the replies owed are read in order."""
        try:
            return _refusals(self.b.link.read_reply())
        except NoScriptError:
            return None

    def flush_counts(self) -> None:
        """Send this process's counts for the metrics now, if it has any (an idle consumer, before
        it blocks): ack.lua with no acks."""
        counts = TALLY.take(self.b.keys, force=True)
        if counts:
            self._ack(self.b.link, AckCallKeys(results=()), AckCallArgs(n_acks=0, acks=(), counts=counts))

    def wait(self, plan: FetchPlan, timeout: float = WAIT_SLICE,
             registered: bool = False) -> tuple[bytes, bytes] | None:
        """Block until a wake token arrives on one of the plan's queues, or (registered idle) a
        message in the consumer's inbox, or `timeout` seconds pass. Returns (list, element) or
        None. A wake token is only a hint to fetch: losing one loses no message, at worst an idle
        worker wakes at the end of its slice; an inbox message is leased and in flight already."""
        seconds = round(max(0.01, min(timeout, WAIT_SLICE)), 3)
        keys = [plan.inbox, *plan.wakes] if registered else plan.wakes
        popped = self.b.wait_link().call("BLPOP", *keys, seconds, blocking=True)
        return (popped[0], popped[1]) if popped else None

    def rewake(self, wake_key: bytes | str) -> None:
        """Give back a wake token this consumer took but will not act on (it is stopping)."""
        self.b.link.call("RPUSH", wake_key, "1")

    def inflight_count(self) -> int:
        return int(self.b.link.call("HLEN", self.b.keys.inflight))
