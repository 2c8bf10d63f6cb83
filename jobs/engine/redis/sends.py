"""Sending: messages into Redis, in one round trip (lua/enqueue.lua, lua/enqueue_unique.lua).

The hottest call a web process makes: delay() of a task due now goes through _enqueue_one, whose
keys and constant arguments are packed once per process. Every send is idempotent by message id
(lua/enqueue.lua remembers each id it accepts for SEND_DEDUP_SECONDS), so a send retried after a
lost reply adds no second copy, and with_retry may repeat it blindly.

On a Redis Cluster whose slot is migrating, a send waits for the move to end, within ENQUEUE_TIMEOUT,
as every script call does: its call declares the guard key, which the slot's nodes lack, so Redis
answers TRYAGAIN before the script runs (redirects.py). Without it, enqueue.lua would run on the old
owner (every key it is given is still there) and fail on its first touch of a key it builds, an id's
mark sent:<id>, as "non local", after its writes before it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import EncodeError
from ..wire.arguments import largest_argument
from ..wire.message import Message
from ..wire.outgoing import Outgoing
from .backoff import with_retry
from .part import Part
from .replicas import wait_ms
from .specs.sending import (
    ENQUEUE,
    ENQUEUE_UNIQUE,
    EnqueueArgs,
    EnqueueCallArgs,
    EnqueueCallKeys,
    EnqueueKeys,
    EnqueueUniqueArgs,
    EnqueueUniqueKeys,
)

if TYPE_CHECKING:
    from .part import Core, Settings

#: A process adds a queue it sends to to the queues SET (keys.py) with its first send there and then at most
#: this often (seconds), riding on a send: the monitor lists queues without a SCAN, at no cost per task.
REGISTER_SECONDS = 60.0
_NEVER = float("-inf")
#: A send of messages due now names no wake list to wake (delayed_wake, lua/enqueue.lua).
_NO_WAKE = EnqueueCallKeys()


def within(message: Message, wire: str, max_bytes: int) -> str:
    """`wire`, the encoded `message`, if it fits in JOBS["MESSAGE_MAX_BYTES"]; else EncodeError,
    naming the task and its largest argument. Counted in UTF-8 bytes, as Redis keeps it, and only
    measured when it could be too long (a character takes at most 4 bytes): nothing for most."""
    if len(wire) * 4 <= max_bytes:
        return wire
    size = len(wire.encode("utf-8", "surrogatepass"))
    if size <= max_bytes:
        return wire
    largest = ""
    found = largest_argument(message.args, message.kwargs) if message.content_type == "json" else None
    if found:
        largest = f"; the largest argument is {found[1]}, {found[0]:,} bytes of JSON"
    raise EncodeError(f"{message.task}: its message would be {size:,} bytes, over JOBS['MESSAGE_MAX_BYTES'] "
                      f"({max_bytes:,}){largest}. Send a reference to the data (a primary key, a file or storage "
                      "path) rather than the data, or raise MESSAGE_MAX_BYTES.")


def wire(message: Message | Outgoing, config: Settings) -> str:
    """A message as it is sent, signed (JOBS["SIGNING_KEYS"]), refused (EncodeError, naming the task)
    if over JOBS["MESSAGE_MAX_BYTES"]: before anything is written. An Outgoing (an outbox's row) was
    made by this function already, when it was called: its wire is sent as it was kept."""
    if isinstance(message, Outgoing):
        return message.wire
    return within(message, message.encode(config.signing_key), config.message_max_bytes)


class Sends(Part):
    """broker.sends: enqueue(), enqueue_unique()."""


    def __init__(self, broker: Core) -> None:
        super().__init__(broker)
        k = broker.keys
        #: enqueue.lua's keys and arguments that never change for this process, packed once.
        self._enqueue = ENQUEUE.prepare(
            EnqueueKeys(scheduled=k.scheduled, idle=k.idle, leases=k.leases, inflight=k.inflight, revoked=k.revoked,
                        workers=k.workers, expiries=k.expiries, queue_set=k.queues),
            EnqueueArgs(queue_prefix=k.queue_prefix, wake_prefix=k.wake_prefix, idle_prefix=k.idle_prefix,
                        inbox_prefix=k.inbox_prefix, sent_prefix=k.sent_prefix, dedup_ms=broker.dedup_ms))
        #: How long a send waits for ENQUEUE_REPLICAS replicas, within its link's timeout (replicas.py).
        self._wait_ms = wait_ms(broker.config.enqueue_timeout)
        #: Queue -> when this process last added it to the queues SET (monotonic; _unnamed).
        self._registered: dict[str, float] = {}

    def enqueue(self, messages: Sequence[Message | Outgoing], records: Sequence[tuple[str, str]] = ()) -> None:
        """Put messages in Redis in one round trip. Encoding happens first, so an argument that
        cannot be sent raises before anything is written. Retried on connection errors until
        ENQUEUE_TIMEOUT, then BrokerUnavailable: safe, because the script leaves out a message whose
        id it accepted in the last SEND_DEDUP_SECONDS (lua/enqueue.lua), whether the first copy
        waits, runs or has run; and so is a second send of an id on purpose. Due times and
        expiries are sent as they were given (a countdown as a delay) and put on Redis's clock by
        the script. records: (attempts key, entry) pairs written in the same step, for tasks that
        keep their attempts (the django.tasks backend's READY record). An Outgoing (wire/outgoing.py:
        a message kept by the outbox) is sent as it was encoded."""
        if len(messages) == 1 and not records and not messages[0].delayed and messages[0].expiry() == "":
            self._enqueue_one(messages[0])
            return
        plain: list[str | int] = []
        other: list[str | int] = []
        first_delayed = None
        for message in messages:
            due, expiry = message.due(), message.expiry()
            if due or expiry:
                other += (message.queue, message.score, wire(message, self.b.config), due, expiry)
                if first_delayed is None and message.delayed:
                    first_delayed = message.queue
            else:
                plain += (message.queue, message.score, wire(message, self.b.config))
        written = [part for key, entry in records for part in (key, entry)]
        now = time.monotonic()
        named = self._unnamed({m.queue for m in messages}, now)
        # The wake list woken if a delayed message's due time becomes the earliest.
        keys = EnqueueCallKeys(delayed_wake=None if first_delayed is None else self.b.keys.wake(first_delayed))
        argv = EnqueueCallArgs(n=len(plain) // 3, r=len(records), records_ms=self.b.ttl_ms, names=" ".join(named),
                               plain=plain, records=written, other=other)
        call, replicas, wait = self._enqueue, self.b.config.enqueue_replicas, self._wait_ms
        with_retry(lambda: call.durably(self.b.link, keys, argv, replicas, wait), self.b.config.enqueue_timeout,
                   "enqueue")
        self._named(named, now)

    def _unnamed(self, queues: set[str], now: float) -> list[str]:
        """Of these queues, those this process has not added to the queues SET in the last
        REGISTER_SECONDS: the SET costs a send nothing but about once a minute per queue, and a SET
        that was lost (a Redis restarted empty) has them back within a minute of their next send."""
        seen = self._registered
        return sorted(q for q in queues if now - seen.get(q, _NEVER) >= REGISTER_SECONDS)

    def _named(self, queues: Sequence[str], now: float) -> None:
        for queue in queues:  # once the call that added them answered
            self._registered[queue] = now

    def enqueue_unique(self, message: Message | Outgoing, lock: str, lock_ms: int) -> str:
        """Enqueue a unique task's message unless its lock is held, or its id was sent lately (as
        enqueue()); the id of the run holding the lock (this message's, if it was sent before)."""
        k = self.b.keys
        keys = EnqueueUniqueKeys(lock=lock, scheduled=k.scheduled, idle=k.idle, leases=k.leases, inflight=k.inflight,
                                 revoked=k.revoked, workers=k.workers, wake=k.wake(message.queue),
                                 expiries=k.expiries, queue_set=k.queues)
        now = time.monotonic()
        named = self._unnamed({message.queue}, now)
        argv = EnqueueUniqueArgs(id=message.id, lock_ms=lock_ms, queue_prefix=k.queue_prefix,
                                 wake_prefix=k.wake_prefix, idle_prefix=k.idle_prefix, inbox_prefix=k.inbox_prefix,
                                 queue=message.queue, score=message.score,
                                 wire=wire(message, self.b.config), due=message.due(),
                                 expiry=message.expiry(), name_queue="1" if named else "", sent_prefix=k.sent_prefix,
                                 dedup_ms=self.b.dedup_ms)
        replicas = self.b.config.enqueue_replicas
        holder = with_retry(lambda: ENQUEUE_UNIQUE.durably(self.b.link, keys, argv, replicas, self._wait_ms),
                            self.b.config.enqueue_timeout, "enqueue")
        self._named(named, now)
        return holder.decode() if isinstance(holder, bytes) else str(holder)

    def _enqueue_one(self, message: Message | Outgoing) -> None:
        """The common case, delay() of a task due now: one plain message."""
        queue, now = message.queue, time.monotonic()
        named = now - self._registered.get(queue, _NEVER) >= REGISTER_SECONDS
        argv = EnqueueCallArgs(n=1, r=0, records_ms="", names=queue if named else "",
                               plain=(queue, message.score, wire(message, self.b.config)),
                               records=(), other=())
        call, replicas, wait = self._enqueue, self.b.config.enqueue_replicas, self._wait_ms
        with_retry(lambda: call.durably(self.b.link, _NO_WAKE, argv, replicas, wait), self.b.config.enqueue_timeout,
                   "enqueue")
        if named:
            self._registered[queue] = now

