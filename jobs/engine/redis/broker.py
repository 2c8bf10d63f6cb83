"""The broker: every move of a message in Redis, each one round trip and, where it changes more than
one key, one Lua script (lua/<method>.lua).

A message's life in Redis:

    enqueue ──► queue:<name> ──fetch──► inflight + leases ──ack──► result:<id>
       │            ▲    ▲                 │        │
       └► scheduled ┘    └──── maintain / requeue ──┘  (lease ran out, or handed back)

A message is always in exactly one of: scheduled, a queue, in flight. Every move between them is one
atomic script, so a process killed at any instant loses nothing: at worst a message waits for its
lease to run out. Delivery tokens fence the holder: once a lease is lost, the old token can no longer
acknowledge, so one run's result is stored, the one that holds the lease.

Longer than most modules on purpose: every Redis call jobs makes (but for the monitor's reads) is a
method here, so that there is one place to look for what touches Redis, and no other.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import NoPermissionError, NoScriptError, ResponseError

from ..ops.metrics import TALLY, WORKER_KEEP_MS
from ..setup.config import Config
from ..wire.message import Message, parse_entry, within
from ..wire.serializers import json_dumps, json_loads
from . import scripts
from .connection import ConnectionFactory, Link, Links, pack, with_retry
from .keys import Keys

#: An idle consumer's blocking wait is cut into slices this long: a safety net for a connection
#: that died silently, and the renewal of its idle registration (stale after 8 s, lib/deliver.lua).
#: Not a polling interval: a hand-off or a wake token ends the wait at once.
WAIT_SLICE = 5

#: A process adds a queue it sends to to the queues SET (keys.py) with its first send there and then at most
#: this often (seconds), riding on a send: the monitor lists queues without a SCAN, at no cost per task.
REGISTER_SECONDS = 60.0
_NEVER = float("-inf")

#: A worker's running HASH (keys.running) outlives its last maintain.lua by this much (ms): one that was
#: killed stops showing tasks as running within seconds.
RUNNING_KEEP_MS = 10_000

#: A worker whose heartbeat is older than this (ms) is not asked to stop (monitor.ALIVE_SECONDS).
ALIVE_MS = 15_000


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


#: The consumer group the workers' recorders read the history stream as (history.py).
HISTORY_GROUP = "recorders"


def _entries(raw: list[Any]) -> list[tuple[bytes, bytes, bytes]]:
    """Stream entries [id, [field, value]] as (id, field, value); those deleted meanwhile are None."""
    return [(item[0], item[1][0], item[1][1]) for item in raw if item is not None and item[1]]


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


@dataclass(slots=True)
class Maintenance:
    """What one maintain call did (lua/maintain.lua), for the supervisor to log and act on."""

    promoted: int
    recovered: list[tuple[str, str]]  # (token, queue; '' if it went to the dead letters)
    next_due: float | None  # unix time (s) of the next scheduled message
    terminate: list[str]  # ids of the caller's running tasks revoked with terminate=True
    shutdown: bool = False  # the caller was asked to stop (control.shutdown)


class FetchPlan:
    """The parts of a consumer's fetch call that never change, packed once (see connection.pack)."""

    __slots__ = ("queues", "wakes", "inbox", "keys", "packed_keys", "packed_args", "n_args", "prefix")

    def __init__(self, broker: Broker, queues: Sequence[str], token_prefix: str, worker_id: str = "") -> None:
        keys, config = broker.keys, broker.config
        self.queues = list(queues)
        self.prefix = token_prefix
        self.wakes = [keys.wake(q) for q in queues]
        self.inbox = keys.inbox(token_prefix)
        self.keys = [keys.leases, keys.inflight, keys.scheduled, keys.revoked, keys.dead, keys.dead_order,
                     keys.idle, self.inbox, keys.workers, keys.expiries, keys.history, keys.history_dropped,
                     keys.stats, keys.paused, *(keys.queue(q) for q in queues), *self.wakes]
        args = [len(queues), broker._lease_ms, token_prefix, broker._ttl_ms, keys.result_prefix,
                keys.done_prefix, keys.queue_prefix, keys.wake_prefix, config.dead_letters_max,
                keys.idle_prefix, keys.inbox_prefix, worker_id, broker.history_max, *queues]
        self.packed_keys = pack(self.keys)
        self.packed_args = pack(args)
        self.n_args = len(args)


class DoneWatch:
    """A subscription to one task's done channel, on a connection of its own: a waiter sleeps on
    it instead of polling (AsyncResult.get). Every read is bounded: the SUBSCRIBE reply by the
    socket timeout, a wait by its own timeout, so a Redis that vanishes cannot hang a caller."""

    def __init__(self, broker: Broker, task_id: str) -> None:
        self.link = Link(broker.factory, socket_timeout=broker.config.enqueue_timeout)
        try:
            self.link.call("SUBSCRIBE", broker.keys.done(task_id))
        except BaseException:
            self.link.close()
            raise

    def wait(self, seconds: float) -> None:
        """Until a notice arrives or `seconds` pass."""
        if self.link.conn.can_read(timeout=seconds):
            self.link.conn.read_response()

    def close(self) -> None:
        self.link.close()


class Broker:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.keys = Keys(config.key_prefix)
        self.factory = ConnectionFactory(config.broker_url, config.broker_options)
        # A call waits at most about ENQUEUE_TIMEOUT for Redis (unless BROKER_OPTIONS says otherwise).
        bounded = {"socket_timeout": config.enqueue_timeout,
                   "socket_connect_timeout": min(2.0, config.enqueue_timeout)}
        self._bounded = {k: v for k, v in bounded.items() if k not in config.broker_options}
        self._links = Links(self.factory, **self._bounded)
        self._wait_links = Links(self.factory, socket_timeout=WAIT_SLICE + 5)
        self._own: Link | None = None
        self._ttl_ms = str(int(config.result_expires * 1000))
        #: What a script that may bury a message takes to end the workflow of a step it buries
        #: (lua/lib/workflow_end.lua): the result expiry, the result key and done channel prefixes.
        self._ending = (self._ttl_ms, self.keys.result_prefix, self.keys.done_prefix)
        self._lease_ms = int(config.lease_seconds * 1000)
        #: How long the enqueue scripts remember an id sent (keys.sent).
        self._dedup_ms = int(config.send_dedup_seconds * 1000)
        self._enqueue_head: bytes | None = None
        #: Queue -> when this process last added it to the queues SET (monotonic; _unnamed).
        self._registered: dict[str, float] = {}
        #: The history's bound, as the scripts take it (0: no history; lib/history.lua).
        self.history_max = config.history_backlog if config.history else 0

    @property
    def link(self) -> Link:
        own = self._own
        return own if own is not None else self._links.link

    def private(self) -> Broker:
        """This broker, with a connection of its own for the one thread that uses it. A consumer
        talks to Redis through one: the task it runs uses its thread's connection, and a task
        interrupted mid-command (a soft time limit) must never leave a reply for the consumer's
        next fetch to read as its own, nor share a socket with it at all."""
        view = copy.copy(self)
        view._own = Link(self.factory, **self._bounded)
        return view

    # -- enqueue -------------------------------------------------------------------------------

    def enqueue(self, messages: Sequence[Message], records: Sequence[tuple[str, str]] = ()) -> None:
        """Put messages in Redis in one round trip. Encoding happens first, so an argument that
        cannot be sent raises before anything is written. Retried on connection errors until
        ENQUEUE_TIMEOUT, then BrokerUnavailable: safe, because the script leaves out a message whose
        id it accepted in the last SEND_DEDUP_SECONDS (lua/enqueue.lua), whether the first copy
        waits, runs or has run; and so is a second send of an id on purpose. Due times and
        expiries are sent as they were given (a countdown as a delay) and put on Redis's clock by
        the script. records: (attempts key, entry) pairs written in the same step, for tasks that
        keep their attempts (the django.tasks backend's READY record)."""
        if len(messages) == 1 and not records and not messages[0].delayed and messages[0].expiry() == "":
            self._enqueue_one(messages[0])
            return
        k = self.keys
        keys = [k.scheduled, k.idle, k.leases, k.inflight, k.revoked, k.workers, k.expiries, k.queues]
        plain: list[Any] = []
        other: list[Any] = []
        first_delayed = None
        for message in messages:
            due, expiry = message.due(), message.expiry()
            if due or expiry:
                other += (message.queue, message.score, self._wire(message), due, expiry)
                if first_delayed is None and message.delayed:
                    first_delayed = message.queue
            else:
                plain += (message.queue, message.score, self._wire(message))
        written = [part for key, entry in records for part in (key, entry)]
        now = time.monotonic()
        named = self._unnamed({m.queue for m in messages}, now)
        args = [k.queue_prefix, k.wake_prefix, k.idle_prefix, k.inbox_prefix, k.sent_prefix, self._dedup_ms,
                len(plain) // 3, len(records), self._ttl_ms, " ".join(named), *plain, *written, *other]
        if first_delayed is not None:
            keys.append(k.wake(first_delayed))  # woken if the new due time is the earliest
        script = scripts.load("enqueue")
        with_retry(lambda: script(self.link, keys, args), self.config.enqueue_timeout, "enqueue")
        self._named(named, now)

    def _wire(self, message: Message) -> str:
        """A message as it is sent, refused (EncodeError) if over JOBS["MESSAGE_MAX_BYTES"]."""
        return within(message, message.encode(), self.config.message_max_bytes)

    def _unnamed(self, queues: set[str], now: float) -> list[str]:
        """Of these queues, those this process has not added to the queues SET in the last
        REGISTER_SECONDS: the SET costs a send nothing but about once a minute per queue, and a SET
        that was lost (a Redis restarted empty) has them back within a minute of their next send."""
        seen = self._registered
        return sorted(q for q in queues if now - seen.get(q, _NEVER) >= REGISTER_SECONDS)

    def _named(self, queues: Sequence[str], now: float) -> None:
        for queue in queues:  # once the call that added them answered
            self._registered[queue] = now

    def enqueue_unique(self, message: Message, lock: str, lock_ms: int) -> str:
        """Enqueue a unique task's message unless its lock is held, or its id was sent lately (as
        enqueue()); the id of the run holding the lock (this message's, if it was sent before)."""
        k = self.keys
        keys = [lock, k.scheduled, k.idle, k.leases, k.inflight, k.revoked, k.workers, k.wake(message.queue),
                k.expiries, k.queues]
        now = time.monotonic()
        named = self._unnamed({message.queue}, now)
        args = [message.id, lock_ms, k.queue_prefix, k.wake_prefix, k.idle_prefix, k.inbox_prefix, message.queue,
                message.score, self._wire(message), message.due(), message.expiry(), "1" if named else "",
                k.sent_prefix, self._dedup_ms]
        script = scripts.load("enqueue_unique")
        holder = with_retry(lambda: script(self.link, keys, args), self.config.enqueue_timeout, "enqueue")
        self._named(named, now)
        return holder.decode() if isinstance(holder, bytes) else str(holder)

    def _enqueue_one(self, message: Message) -> None:
        """The common case, delay() of a task due now, with its keys packed once per queue."""
        head = self._enqueue_head
        if head is None:
            k = self.keys
            head = self._enqueue_head = pack([k.scheduled, k.idle, k.leases, k.inflight, k.revoked, k.workers,
                                              k.expiries, k.queues, k.queue_prefix, k.wake_prefix, k.idle_prefix,
                                              k.inbox_prefix, k.sent_prefix, self._dedup_ms])
        queue, now = message.queue, time.monotonic()
        named = now - self._registered.get(queue, _NEVER) >= REGISTER_SECONDS
        body = head + pack([1, 0, "", queue if named else "", queue, message.score, self._wire(message)])
        script = scripts.load("enqueue")
        with_retry(lambda: script.call_packed(self.link, 8, 21, body), self.config.enqueue_timeout, "enqueue")
        if named:
            self._registered[queue] = now

    # -- consume -------------------------------------------------------------------------------

    def plan(self, queues: Sequence[str], token_prefix: str = "", worker_id: str = "") -> FetchPlan:
        """worker_id: whose heartbeat vouches for this consumer when it registers idle."""
        return FetchPlan(self, queues, token_prefix, worker_id)

    def _ack_parts(self, acks: Sequence[Ack]) -> tuple[list[str], list[Any]]:
        keys: list[str] = []
        args: list[Any] = []
        result, done = self.keys.result, self.keys.done
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
    ) -> Fetched:
        """Settle `acks`, then take up to `want` messages; delivery k carries token
        ``plan.prefix + str(first_seq + k)``. One round trip, most of it packed in advance.
        spin: wait for the reply spinning (lower latency, more CPU), for the fetch after a wake-up."""
        sent = time.monotonic()
        ack_keys, ack_args = self._ack_parts(acks)
        variable = [want, first_seq, 1 if woken else 0, "" if registered_seq is None else registered_seq,
                    1 if register else 0, len(acks), *ack_args, TALLY.take(self.keys)]
        body = plan.packed_keys + pack(ack_keys) + plan.packed_args + pack(variable)
        count = len(plan.keys) + len(ack_keys) + plan.n_args + len(variable)
        reply = scripts.load("fetch").call_packed(link or self.link, len(plan.keys) + len(ack_keys), count, body,
                                                  spin)
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
        k = self.keys
        keys = [k.leases, k.inflight, k.scheduled, k.history, k.history_dropped, *ack_keys]
        args = [self._ttl_ms, self.history_max, len(acks), *ack_args, TALLY.take(k, force=True)]
        return _refusals(scripts.load("ack")(link or self.link, keys, args))

    def send_ack(self, acks: Sequence[Ack]) -> None:
        """Settle deliveries without waiting for the reply (read it with ack_reply()): a consumer
        sends the acks that waited ACK_DELAY this way, and goes on with its next task."""
        ack_keys, ack_args = self._ack_parts(acks)
        k = self.keys
        keys = [k.leases, k.inflight, k.scheduled, k.history, k.history_dropped, *ack_keys]
        args = [self._ttl_ms, self.history_max, len(acks), *ack_args, TALLY.take(k)]
        scripts.load("ack").send_packed(self.link, len(keys), len(keys) + len(args), pack(keys) + pack(args))

    def load_ack(self) -> None:
        """Make sure Redis has ack.lua before send_ack() relies on it: a NOSCRIPT reply read only
        later would hold the result back until then."""
        self.link.call("SCRIPT", "LOAD", scripts.load("ack").source)

    def ack_reply(self) -> list[Refused] | None:
        """The reply to the oldest send_ack(); None if it did not run (Redis had lost its scripts,
        a restart): then it is the caller's to send again. For a private() broker whose connection
        carries nothing else, so that the replies owed are read in order."""
        try:
            return _refusals(self.link.read_reply())
        except NoScriptError:
            return None

    def flush_counts(self) -> None:
        """Send this process's counts for the metrics now, if it has any (an idle consumer, before
        it blocks): ack.lua with no acks."""
        k = self.keys
        counts = TALLY.take(k, force=True)
        if counts:
            keys = [k.leases, k.inflight, k.scheduled, k.history, k.history_dropped]
            scripts.load("ack")(self.link, keys, [self._ttl_ms, self.history_max, 0, counts])

    def wait_link(self) -> Link:
        """This thread's connection for blocking waits (interrupt it to end a wait early)."""
        return self._wait_links.link

    def wait(self, plan: FetchPlan, timeout: float = WAIT_SLICE,
             registered: bool = False) -> tuple[bytes, bytes] | None:
        """Block until a wake token arrives on one of the plan's queues, or (registered idle) a
        message in the consumer's inbox, or `timeout` seconds pass. Returns (list, element) or
        None. A wake token is only a hint to fetch: losing one loses no message, at worst an idle
        worker wakes at the end of its slice; an inbox message is leased and in flight already."""
        seconds = round(max(0.01, min(timeout, WAIT_SLICE)), 3)
        keys = [plan.inbox, *plan.wakes] if registered else plan.wakes
        popped = self.wait_link().call("BLPOP", *keys, seconds, blocking=True)
        return (popped[0], popped[1]) if popped else None

    def rewake(self, wake_key: bytes | str) -> None:
        """Give back a wake token this consumer took but will not act on (it is stopping)."""
        self.link.call("RPUSH", wake_key, "1")

    def ack_early(self, token: str) -> bool:
        """Acknowledge an acks_late=False task as it starts (lua/ack_early.lua); False if this
        delivery no longer holds it, and then it must not run."""
        return bool(scripts.load("ack_early")(self.link, [self.keys.inflight], [token]))

    def started(self, token: str, task_id: str, payload: str, record: bool = True) -> bool:
        """Store STARTED, or a custom state (record=False: not for the history), for a task, only
        while `token` still holds it (see lua/started.lua)."""
        k = self.keys
        keys = [k.inflight, k.result(task_id), k.history, k.history_dropped]
        args = [token, payload, self._ttl_ms, self.history_max if record else 0]
        return bool(scripts.load("started")(self.link, keys, args))

    def started_attempt(self, token: str, task_id: str, payload: str, attempt: str,
                        record: bool = True) -> list[bytes] | None:
        """started(), for a task that keeps its attempts: `attempt` is added to its list in the same
        step; returns the list (its enqueue, starts and errors so far, this one last), or None if
        `token` no longer holds the task."""
        k = self.keys
        keys = [k.inflight, k.result(task_id), k.history, k.history_dropped, k.attempts(task_id)]
        args = [token, payload, self._ttl_ms, self.history_max if record else 0, attempt]
        entries = scripts.load("started")(self.link, keys, args)
        return list(entries) if entries else None

    def defer(self, token: str, delay: float, message: Message) -> bool:
        """Put a held message back into the scheduled set, due `delay` seconds from now (Redis's clock)."""
        member = message.entry()
        keys = [self.keys.leases, self.keys.inflight, self.keys.scheduled]
        return bool(scripts.load("defer")(self.link, keys, [token, f"+{int(delay * 1000)}", member]))

    def rate(self, token: str, message: Message, budgets: list[tuple[str, float]]) -> int:
        """Take a start from every budget (lua/rate.lua): 0 = start now; else the message was put
        back until that due time (ms); -1 = the token no longer held it."""
        member = message.replace(options=message.options.replace(rate_waited=True)).entry()
        k = self.keys
        keys = [k.leases, k.inflight, k.scheduled, *(k.rate(name) for name, _ in budgets)]
        args = [token, "1" if message.options.rate_waited else "", member, *(ms for _, ms in budgets)]
        return int(scripts.load("rate")(self.link, keys, args))

    def bury(self, token: str, reason: str, worker: str = "") -> tuple[bool, int]:
        """Move a held message to the dead letters. Returns (moved, number of old entries trimmed)."""
        k = self.keys
        keys = [k.leases, k.inflight, k.dead, k.dead_order, k.history, k.history_dropped]
        args = [token, reason, worker, self.config.dead_letters_max, self.history_max, *self._ending]
        moved, trimmed = scripts.load("dead")(self.link, keys, args)
        return bool(moved), int(trimmed)

    def revoke(self, task_ids: Sequence[str], terminate: bool) -> int:
        """Mark tasks revoked (see lua/revoke.lua)."""
        keys = [self.keys.revoked, self.keys.terminate]
        return int(scripts.load("revoke")(self.link, keys, ["1" if terminate else "0", *task_ids]))

    def purge(self, queue: str) -> int:
        """Delete the messages waiting on a queue (lua/purge.lua); how many there were."""
        return int(scripts.load("purge")(self.link, [self.keys.queue(queue)], []))

    def pause(self, queue: str) -> bool:
        """Stop every worker taking from `queue` (lua/pause.lua); False if it was paused already."""
        k = self.keys
        return bool(scripts.load("pause")(self.link, [k.paused, k.idle_list(queue)], [queue]))

    def resume(self, queue: str) -> bool:
        """Let workers take from `queue` again (lua/resume.lua); False if it was not paused."""
        k = self.keys
        return bool(scripts.load("resume")(self.link, [k.paused, k.queue(queue), k.wake(queue)], [queue]))

    def paused(self) -> dict[str, float]:
        """Paused queue -> since when (unix time, s)."""
        raw = self.link.call("HGETALL", self.keys.paused)
        pairs = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2], strict=True)
        return {name.decode(): int(since) / 1000 for name, since in pairs}

    def held(self, token: str) -> tuple[str, bytes] | None:
        """(queue, wire) of the message a delivery token holds, or None once it no longer holds it."""
        entry = self.link.call("HGET", self.keys.inflight, token)
        if entry is None:
            return None
        _, queue, wire = parse_entry(entry)
        return queue, wire

    # -- supervise -----------------------------------------------------------------------------

    def renew(self, tokens: Sequence[str]) -> int:
        """Push the lease deadline of held deliveries forward (lua/renew.lua: never resurrects a
        lease another worker took). Returns how many were still held."""
        if not tokens:
            return 0
        return int(scripts.load("renew")(self.link, [self.keys.leases], [self._lease_ms, "", *tokens]))

    def confirm(self, tokens: Sequence[str]) -> set[str]:
        """Renew these leases now, and say which are no longer held (lua/renew.lua)."""
        if not tokens:
            return set()
        lost = scripts.load("renew")(self.link, [self.keys.leases], [self._lease_ms, "1", *tokens])
        return {t.decode() for t in lost}

    def requeue(self, tokens: Sequence[str], lost: bool = False, forget: bool = True) -> int:
        """Hand deliveries back to their queues now; returns how many were still held. lost=True
        counts them as lost deliveries (a crash), which MAX_DELIVERIES bounds. forget=False keeps
        the consumer's idle registration (it is alive and handing back what it cannot run)."""
        if not tokens:
            return 0
        k = self.keys
        keys = [k.leases, k.inflight, k.dead, k.dead_order, k.idle, k.revoked, k.workers, k.history,
                k.history_dropped]
        args = [k.queue_prefix, k.wake_prefix, "1" if lost else "0", self.config.max_deliveries,
                self.config.dead_letters_max, k.idle_prefix, k.inbox_prefix, "1" if forget else "0",
                self.history_max, *self._ending, *tokens]
        return int(scripts.load("requeue")(self.link, keys, args))

    def count_redeliveries(self, n: int) -> None:
        """Add to the metrics' count of leases that ran out (metrics.py)."""
        self.link.call("HINCRBY", self.keys.stats, "redeliveries", n)

    def maintain(self, worker_id: str = "", running: Sequence[tuple[str, float]] = (),
                 limit: int = 1000) -> Maintenance:
        """running: (task id, seconds it has run) of each task the worker runs now."""
        k = self.keys
        keys = [k.scheduled, k.leases, k.inflight, k.workers, k.dead, k.dead_order, k.revoked, k.terminate,
                k.maintained, k.idle, k.expiries, k.history, k.history_dropped, k.running(worker_id), k.shutdown]
        args = [k.queue_prefix, k.wake_prefix, limit, worker_id, self.config.max_deliveries,
                self.config.dead_letters_max, self._ttl_ms, self._lease_ms, k.idle_prefix, k.inbox_prefix,
                self.history_max, RUNNING_KEEP_MS, *self._ending,
                *(part for task_id, seconds in running for part in (task_id, max(0, int(seconds * 1000))))]
        promoted, recovered, next_due, now, terminate, stop = scripts.load("maintain")(self.link, keys, args)
        pairs = [(recovered[i].decode(), recovered[i + 1].decode()) for i in range(0, len(recovered), 2)]
        # The next due time, as an interval on Redis's clock, turned into one on ours.
        wait = (float(next_due) - float(now)) / 1000 if next_due else None
        return Maintenance(int(promoted), pairs, None if wait is None else time.time() + wait,
                           [i.decode() for i in terminate], bool(stop))

    def request_shutdown(self, worker_id: str) -> bool:
        """Ask one worker to stop as on SIGTERM (lua/shutdown.lua); False if no live worker has that id."""
        k = self.keys
        return bool(scripts.load("shutdown")(self.link, [k.workers, k.shutdown], [worker_id, ALIVE_MS]))

    def adopt_queues(self, queues: Sequence[str]) -> None:
        """A worker's queues into the queues SET (keys.py), as it starts. A Redis whose SET is missing
        (first run of a version that keeps it, or a Redis that lost its data) has it filled once from
        the queue keys there are: the one SCAN of the keyspace, never on a reader's path."""
        link, k = self.link, self.keys
        names = set(queues)
        if not link.call("EXISTS", k.queues):
            pattern = k.queue_prefix.replace("{", "\\{").replace("}", "\\}") + "*"
            cursor = 0
            try:
                while True:
                    cursor, batch = link.call("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
                    names.update(b.decode()[len(k.queue_prefix):] for b in batch)
                    if int(cursor) == 0:
                        break
            except NoPermissionError:  # a user without SCAN (docs/operations.md): the SET fills as queues are used
                pass
        if names:
            link.call("SADD", k.queues, *sorted(names))

    # -- results -------------------------------------------------------------------------------

    def result(self, task_id: str) -> bytes | None:
        """A task's stored result (results.decode reads it), or None."""
        raw: bytes | None = self.link.call("GET", self.keys.result(task_id))
        return raw

    def result_and_attempts(self, task_id: str) -> tuple[bytes | None, list[bytes]]:
        """A task's stored result and its attempts list (keys.attempts), in one round trip."""
        k = self.keys
        raw, entries = self.link.pipeline([("GET", k.result(task_id)), ("LRANGE", k.attempts(task_id), 0, -1)])
        return raw, list(entries)

    def forget(self, task_id: str) -> None:
        self.link.call("DEL", self.keys.result(task_id))

    def watch_done(self, task_id: str) -> DoneWatch:
        return DoneWatch(self, task_id)

    def results(self, task_ids: Sequence[str]) -> list[bytes | None]:
        return list(self.link.call("MGET", *[self.keys.result(i) for i in task_ids])) if task_ids else []

    # -- workflows -----------------------------------------------------------------------------

    def set_chord_members(self, chord_id: str, ids: Sequence[str]) -> None:
        """The ids of a chord's members, in order, for its callback (written before they are sent)."""
        self.link.call("SET", self.keys.chord_members(chord_id), json_dumps(list(ids)), "PX", self._ttl_ms)

    def chord_members(self, chord_id: str) -> list[str] | None:
        """The ids of a chord's members; None once expired (RESULT_EXPIRES)."""
        raw = self.link.call("GET", self.keys.chord_members(chord_id))
        return None if raw is None else list(json_loads(raw))

    # -- scheduled -----------------------------------------------------------------------------

    def run_scheduled(self, members: Sequence[bytes]) -> int:
        """Send these scheduled messages now (lua/run_scheduled.lua): `members` as the scheduled set
        holds them (monitor.Monitor.scheduled_members). How many were still there and sent."""
        k = self.keys
        keys = [k.scheduled, k.idle, k.leases, k.inflight, k.revoked, k.workers, k.dead, k.dead_order, k.history,
                k.history_dropped]
        head = [k.queue_prefix, k.wake_prefix, k.idle_prefix, k.inbox_prefix, self.config.dead_letters_max,
                self.history_max, *self._ending]
        return sum(int(scripts.load("run_scheduled")(self.link, keys, [*head, *members[i:i + 500]]))
                   for i in range(0, len(members), 500))

    def delete_scheduled(self, members: Sequence[bytes]) -> int:
        """Delete these scheduled messages (as purge does a queue's: no result is stored for them);
        how many were still there. One ZREM: nothing else moves with them."""
        return int(self.link.call("ZREM", self.keys.scheduled, *members)) if members else 0

    # -- inspect -------------------------------------------------------------------------------

    def queue_length(self, queue: str) -> int:
        return int(self.link.call("ZCARD", self.keys.queue(queue)))

    def scheduled_count(self) -> int:
        return int(self.link.call("ZCARD", self.keys.scheduled))

    def inflight_count(self) -> int:
        return int(self.link.call("HLEN", self.keys.inflight))

    # -- workers -------------------------------------------------------------------------------

    def record_worker(self, worker_id: str, record: dict[str, Any]) -> None:
        """What a worker says about itself (monitor.py shows it), for an hour unless said again."""
        self.link.call("SET", self.keys.worker(worker_id), json_dumps(record), "PX", WORKER_KEEP_MS)

    def forget_worker(self, worker_id: str) -> None:
        """A worker that stops in order leaves no trace behind (its heartbeat, its record, its counts,
        what it ran, a request that it stop)."""
        k = self.keys
        self.link.pipeline([("DEL", k.worker(worker_id), k.worker_counts(worker_id), k.running(worker_id)),
                            ("ZREM", k.workers, worker_id), ("SREM", k.shutdown, worker_id)])

    def mail_throttle(self, task: str, interval_ms: int) -> int:
        """Count a task's final failure; the failures a mail now stands for, or 0 if one went out
        less than `interval_ms` ago (lua/mail_throttle.lua)."""
        keys = [self.keys.mail(task), self.keys.mail_count(task)]
        return int(scripts.load("mail_throttle")(self.link, keys, [interval_ms]))

    # -- beat ----------------------------------------------------------------------------------

    def beat_lead(self, beat_id: str, lease_ms: int) -> int:
        """0 if `beat_id` leads (it took or kept the lease), else the ms left on the leader's."""
        return int(scripts.load("lead")(self.link, [self.keys.beat_leader()], [beat_id, lease_ms]))

    def beat_resign(self, beat_id: str) -> None:
        scripts.load("beat_resign")(self.link, [self.keys.beat_leader()], [beat_id])

    def beat_send(self, periodic_id: int, due_ms: int, message: Message) -> bool:
        """Send one run of a periodic task unless it (or a later one) was sent (lua/beat_send.lua)."""
        k = self.keys
        keys = [k.beat_sent(), k.idle, k.leases, k.inflight, k.revoked, k.workers, k.expiries, k.queues]
        args = [periodic_id, due_ms, k.queue_prefix, k.wake_prefix, k.idle_prefix, k.inbox_prefix, message.queue,
                message.score, self._wire(message), message.expiry()]
        return bool(scripts.load("beat_send")(self.link, keys, args))

    # -- history -------------------------------------------------------------------------------

    def history_read(self, consumer: str, count: int, block_ms: int) -> list[tuple[bytes, bytes, bytes]]:
        """Up to `count` new history records (id, field, value) for this recorder, waiting up to
        block_ms for the first (a blocking read: no polling). The group is made on first use, and
        again after a Redis that lost it (a restart without persistence)."""
        args = ("XREADGROUP", "GROUP", HISTORY_GROUP, consumer, "COUNT", count, "BLOCK", block_ms,
                "STREAMS", self.keys.history, ">")
        try:
            reply = self.wait_link().call(*args, blocking=True)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self._history_group()
            reply = self.wait_link().call(*args, blocking=True)
        return _entries(reply[0][1]) if reply else []

    def history_claim(self, consumer: str, idle_ms: int, dead_ms: int, count: int) -> list[tuple[bytes, bytes, bytes]]:
        """Records other recorders read and did not finish: those of a worker that is gone (no
        heartbeat for dead_ms), and any read over idle_ms ago (lua/history_claim.lua)."""
        keys = [self.keys.history, self.keys.workers]
        reply = scripts.load("history_claim")(self.link, keys, [HISTORY_GROUP, consumer, idle_ms, dead_ms, count])
        return _entries(reply)

    def _history_group(self) -> None:
        try:
            self.link.call("XGROUP", "CREATE", self.keys.history, HISTORY_GROUP, "0", "MKSTREAM")
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):  # another recorder made it first
                raise

    def history_done(self, ids: Sequence[bytes]) -> None:
        """Records now in the database leave the stream (lua/history_done.lua)."""
        if ids:
            scripts.load("history_done")(self.link, [self.keys.history], [HISTORY_GROUP, *ids])

    def history_dropped(self) -> dict[str, int]:
        """Outcomes not recorded (backlog full) since the last call, by kind: success, other."""
        flat = scripts.load("history_dropped")(self.link, [self.keys.history_dropped], [])
        return {flat[i].decode(): int(flat[i + 1]) for i in range(0, len(flat), 2)}

    def history_waiting(self) -> tuple[int, dict[str, int]]:
        """(records waiting for the database, outcomes dropped and not yet reported), to show."""
        length, dropped = self.link.pipeline([("XLEN", self.keys.history), ("HGETALL", self.keys.history_dropped)])
        counts = {dropped[i].decode(): int(dropped[i + 1]) for i in range(0, len(dropped), 2)}
        return int(length), counts

    def history_sweep(self, consumer: str = "", idle_ms: int | None = None) -> int:
        """Remove this recorder from the group (it stops), and those idle for idle_ms, if they hold
        no records (lua/history_sweep.lua)."""
        args = [HISTORY_GROUP, consumer, "" if idle_ms is None else idle_ms]
        return int(scripts.load("history_sweep")(self.link, [self.keys.history], args))

    def history_prune_turn(self, consumer: str, lease_ms: int) -> bool:
        """Whether this recorder prunes old rows now (one at a time; lua/lead.lua)."""
        return int(scripts.load("lead")(self.link, [self.keys.history_prune], [consumer, lease_ms])) == 0

    # -- dead letters --------------------------------------------------------------------------

    def dead_count(self) -> int:
        return int(self.link.call("ZCARD", self.keys.dead_order))

    def dead_ids(self, start: int = 0, stop: int = -1, newest_first: bool = True) -> list[str]:
        command = "ZREVRANGE" if newest_first else "ZRANGE"
        return [i.decode() for i in self.link.call(command, self.keys.dead_order, start, stop)]

    def dead_records(self, ids: Sequence[str]) -> list[bytes | None]:
        return list(self.link.call("HMGET", self.keys.dead, *ids)) if ids else []

    def dead_requeue(self, ids: Sequence[str]) -> list[str]:
        done: list[str] = []
        keys = [self.keys.dead, self.keys.dead_order, self.keys.queues]
        for i in range(0, len(ids), 500):
            args = [self.keys.queue_prefix, self.keys.wake_prefix, *ids[i:i + 500]]
            done += [r.decode() for r in scripts.load("dead_requeue")(self.link, keys, args)]
        return done

    def dead_discard(self, ids: Sequence[str]) -> int:
        """Delete dead letters by id (lua/dead_discard.lua); how many were there."""
        keys = [self.keys.dead, self.keys.dead_order]
        return sum(int(scripts.load("dead_discard")(self.link, keys, list(ids[i:i + 500])))
                   for i in range(0, len(ids), 500))

    def dead_newest(self) -> str:
        """Where the dead letters stand now, for dead_purge(upto=...): the newest one's score."""
        newest = self.link.call("ZRANGE", self.keys.dead_order, -1, -1, "WITHSCORES")
        return repr(float(newest[1])) if newest else "-inf"

    def dead_purge(self, upto: str = "+inf") -> int:
        """Delete the dead letters up to `upto` (dead_newest() when they were counted), not those
        that arrived since."""
        return int(scripts.load("dead_purge")(self.link, [self.keys.dead, self.keys.dead_order], [upto]))
