"""The one way a message leaves this process: every sender comes through send(), whatever sends and
however: apply_async and delay, signatures and workflows, send_task, enqueue_many, the django.tasks
backend, beat, and the console's and the CLI's "run again". So every send gets the same treatment,
once: its trace context (tracing.produced, one PRODUCER span a message), eager mode, the commit
hook, a unique task's lock, the size limit.

    send(app, messages)                  now, in one round trip (or at commit: ENQUEUE_ON_COMMIT)
    send(app, messages, on_commit=True)  when the caller's database transaction commits; never if it
                                         rolls back (encoded now all the same: a bad argument fails
                                         at the call, not inside the commit)
    send(app, [m], records=[(key, entry)])   with entries pushed in the same step (the django.tasks
                                         backend's READY record, keys.attempts)
    send(app, ms, outbox=True)           inside a database transaction: written to the outbox in it (same
                                         database, `using` or the one the caller is in), sent at once
                                         after COMMIT and the row forgotten; a relay (relay.py) sends
                                         what a process that died after COMMIT left. Outside one: as
                                         without. JOBS["OUTBOX"] is the default, but for a caller that
                                         said on_commit=False (the django.tasks backend and
                                         enqueue_many pass outbox=JOBS["OUTBOX"] themselves)
    send_kept(app, rows)                 the relay's send of outbox rows, as they were kept
    send(app, [m], periodic=(id, due_ms))    beat's run of a periodic task: sent once per run, however
                                         many beats try (lua/beat_send.lua); [] if it was sent before
    JOBS["EAGER"]                        run here and now instead (eager.py); `announce` is called
                                         with the results before they run, as it would be once they
                                         are in Redis (django.tasks' task_enqueued comes first)

A unique task's message (its lock in the message's options) goes alone, through the lock
(lua/enqueue_unique.lua): its result is the run that holds the lock, which may be another, and its
records are written only if it holds it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .. import many, tracing
from ..errors import ConfigurationError
from ..redis.connection import fails_on_message
from ..redis.sends import wire, within
from ..setup.app import App, current
from ..setup.build import message as build_message
from ..setup.definition import TaskDefinition
from ..wire.message import Message
from ..wire.message_options import NO_MESSAGE_OPTIONS, MessageOptions
from ..wire.options import NO_OPTIONS, CallOptions
from ..wire.outgoing import OutboxStore, Outgoing
from ..wire.workflow import Step
from . import eager
from .asyncresult import AsyncResult

Records = Sequence[tuple[str, str]]
logger = logging.getLogger("jobs.outbox")


def send(app: App, messages: list[Message], on_commit: bool | None = None, *, records: Records = (),
         periodic: tuple[int, int] | None = None, announce: Callable[[list[AsyncResult]], None] | None = None,
         outbox: bool | None = None, using: str | None = None) -> list[AsyncResult]:
    """Send messages; one result handle each, in order (none for a periodic run sent before)."""
    messages = tracing.produced(messages)  # their trace context in their headers, when tracing
    if outbox is None:
        outbox = app.config.outbox and on_commit is not False
    if on_commit is None:
        on_commit = app.config.enqueue_on_commit and periodic is None
    alias = _transaction(app, messages, using) if (outbox or using) and periodic is None else None
    if outbox and alias is not None:
        if not app.config.eager:
            return _kept(app, alias, messages, records, announce)
        on_commit = True  # eager: it runs when it would have been sent
    if app.config.eager:
        if on_commit:
            return _announced([eager.run_at_commit(app, m) for m in messages], announce)
        if announce is not None:
            announce([eager.EagerResult(m.id, m.task, None) for m in messages])
        return [eager.run(app, m) for m in messages]
    if on_commit:
        for message in messages:  # what cannot be sent fails here, at the call, not inside the commit
            within(message, message.encode(app.config.signing_key), app.config.message_max_bytes)

        def at_commit() -> None:
            _announced(_enqueue(app, messages, records, periodic), announce)

        app.after_commit(at_commit)
        return [AsyncResult(m.id, m.task, shard=app.shard_of(m.queue)) for m in messages]
    return _announced(_enqueue(app, messages, records, periodic), announce)


def _transaction(app: App, messages: list[Message], using: str | None) -> str | None:
    """The database alias of the caller's transaction, for the outbox; None: not in one."""
    store = app.outbox
    if store is None:
        raise ConfigurationError("the outbox (JOBS['OUTBOX'], outbox=True, using=) needs Django's database: add "
                                 "'jobs' to INSTALLED_APPS and run `manage.py migrate jobs`")
    try:
        return store.transaction(using)
    except KeyError as exc:  # no such database
        names = ", ".join(sorted({m.task for m in messages}))
        raise ValueError(f"{names}: using={using!r} names no database of settings.DATABASES") from exc


def _kept(app: App, alias: str, messages: list[Message], records: Records,
          announce: Callable[[list[AsyncResult]], None] | None) -> list[AsyncResult]:
    """Write the messages to the outbox in the caller's transaction, as they would be sent (records
    with the first); once it commits, send them and forget their rows. If this process dies
    between, or Redis is away then, a relay sends them later: nothing committed is lost, nothing
    rolled back is sent."""
    store: OutboxStore = app.outbox  # type: ignore[assignment]  # _transaction checked it
    rows = [Outgoing.of(m, wire(m, app.config), tuple(records) if i == 0 else ()) for i, m in enumerate(messages)]
    store.add(alias, rows)

    def at_commit() -> None:
        _at_commit(app, store, alias, rows, announce)

    store.after_commit(alias, at_commit)
    return [AsyncResult(m.id, m.task, shard=app.shard_of(m.queue)) for m in messages]


def _at_commit(app: App, store: OutboxStore, alias: str, rows: list[Outgoing],
               announce: Callable[[list[AsyncResult]], None] | None) -> None:
    """The fast path: sent now, right after COMMIT. A failure is logged, not raised: the commit is
    done, the caller's request goes on, and the rows wait for the relay."""
    try:
        results = _send_rows(app, rows)
        store.sent(alias, [row.id for row in rows])
    except Exception as exc:  # Redis away (BrokerUnavailable), or the database for the delete
        logger.warning("the outbox could not send %d message(s) after commit (%s); the relay sends them",
                       len(rows), exc)
        return
    _announced(results, announce)


def _send_rows(app: App, rows: list[Outgoing]) -> list[AsyncResult]:
    """Rows as kept: one call per shard for the plain ones (one in all with one shard), then each
    unique one through its lock on its shard."""
    plain = [r for r in rows if r.unique is None]
    for shard, group in _by_shard(app, plain):
        app.brokers[shard].sends.enqueue(group, records=[pair for r in group for pair in r.records])
    results = {r.id: AsyncResult(r.id, r.task, shard=app.shard_of(r.queue)) for r in plain}
    for row in rows:
        if row.unique is not None:
            sends = app.broker_for(row.queue).sends
            holder = sends.enqueue_unique(row, row.unique, row.unique_ms)
            if row.records and holder == row.id:
                sends.enqueue([], records=row.records)
            results[row.id] = AsyncResult(holder, row.task, shard=app.shard_of(row.queue))
    return [results[r.id] for r in rows]


def _by_shard(app: App, items: list[Any]) -> list[tuple[int, list[Any]]]:
    """Messages (or rows) by the shard of their queue, each group in the order given."""
    if app.config.shards == 1:
        return [(0, items)] if items else []
    groups: dict[int, list[Any]] = {}
    for item in items:
        groups.setdefault(app.shard_of(item.queue), []).append(item)
    return sorted(groups.items())


def send_kept(app: App, rows: list[Outgoing]) -> list[str | None]:
    """The relay's send (relay.py): each row as it was kept, its countdown counted from when it was
    written; one reason each (None: in Redis, or in the dead letters). A row Redis refuses for what
    it holds goes to the dead letters with the reason, not retried forever
    (redis/connection.fails_on_message); Redis away (BrokerUnavailable) or in a state
    that passes (a failover, out of memory) raises, and the rows wait for the next sweep. A
    row the fast path sent already changes nothing: an id is sent once (lua/enqueue.lua)."""
    now = time.time()
    rows = [row.caught_up(now) for row in rows]
    try:
        _send_rows(app, rows)
        return [None] * len(rows)
    except Exception as exc:
        if not fails_on_message(exc):
            raise  # Redis away, failing over, out of memory...: it passes, the rows wait for the next sweep
    reasons: list[str | None] = []
    for row in rows:  # one of them is refused: find which, one at a time
        try:
            _send_rows(app, [row])
            reasons.append(None)
        except Exception as exc:
            if not fails_on_message(exc):
                raise
            reasons.append(_buried(app, row, f"the outbox could not send it: {type(exc).__name__}: {exc}"))
    return reasons


def _buried(app: App, row: Outgoing, reason: str) -> str | None:
    """A refused row to the dead letters, with its reason (None: done, its row may go); if Redis
    refuses that too, the reason, and the row is set aside where it is (the admin's Outbox messages)."""
    try:
        app.broker_for(row.queue).dead.bury_unsent(row.score, row.queue, row.wire, reason, "outbox relay")
        return None
    except Exception as exc:
        if not fails_on_message(exc):
            raise
        return f"{reason}; and it could not be moved to the dead letters: {type(exc).__name__}: {exc}"


def _announced(results: list[AsyncResult], announce: Callable[[list[AsyncResult]], None] | None) -> list[AsyncResult]:
    if announce is not None and results:
        announce(results)
    return results


def _enqueue(app: App, messages: list[Message], records: Records = (),
             periodic: tuple[int, int] | None = None) -> list[AsyncResult]:
    """Messages to Redis: one call per shard they map to (one in all with one shard); records go with
    the first message's shard (they are its: a django.tasks task's attempts, keys.attempts)."""
    if periodic is not None:  # beat's run: sent, and marked sent, on its queue's shard (beat leads on shard 0)
        [message] = messages
        sent = app.broker_for(message.queue).beat.send(periodic[0], periodic[1], message)
        return [AsyncResult(message.id, message.task, shard=app.shard_of(message.queue))] if sent else []
    plain = [m for m in messages if m.options.unique is None]
    first = app.shard_of(messages[0].queue) if messages else 0
    recorded = False
    for shard, group in _by_shard(app, plain):
        recorded = recorded or shard == first
        app.brokers[shard].sends.enqueue(group, records=records if shard == first else ())
    holders = {m.id: app.broker_for(m.queue).sends.enqueue_unique(m, m.options.unique, m.options.unique_ms)
               for m in messages if m.options.unique is not None}
    if records and not recorded and all(holders.get(m.id, m.id) == m.id for m in messages):
        app.brokers[first].sends.enqueue([], records=records)  # a unique call's records: only once it holds its lock
    return [AsyncResult(holders.get(m.id, m.id), m.task, shard=app.shard_of(m.queue)) for m in messages]


def send_task(name: str, args: Iterable[Any] | None = None, kwargs: dict[str, Any] | None = None,
              parent_id: str | None = None, **options: Any) -> AsyncResult:
    """Send a task by name, whether or not this process has it registered (Celery's send_task): a
    web process can send work that only the workers' code defines. Options are apply_async's; its
    queue and priority, when not given, are JOBS["ROUTES"]', then the registered task's if this
    process knows it, then DEFAULT_QUEUE and 0. parent_id: what sent it, as results and the history
    show it (the admin's "run again" names the task it repeats)."""
    app = current()
    call = CallOptions.parse(name, options)
    if app.config.eager:
        eager.task_of(app, name)  # EAGER mode runs tasks this process knows: say so before anything
    workflow = NO_MESSAGE_OPTIONS if parent_id is None else MessageOptions(parent=parent_id)
    [result] = send(app, [build_message(app, name, args, kwargs, call, workflow)], call.on_commit,
                    outbox=call.outbox, using=call.using)
    return result


Call = tuple[TaskDefinition | str, Iterable[Any], dict[str, Any]]


def enqueue_many(calls: Iterable[Call | Message | Step]) -> list[AsyncResult]:
    """Enqueue many calls in one round trip: ``enqueue_many((add, (i, i), {}) for i in range(1000))``
    or ``enqueue_many([add.s(1, 2), mul.s(3, 4).set(queue="math")])``. Each item is (task or task
    name, args, kwargs), a signature (its options kept), or a Message made with Task.message().
    One call given alone, not in a list, is refused (many.items), never taken apart."""
    if isinstance(calls, tuple) and len(calls) == 3 and isinstance(calls[0], (TaskDefinition, str)):
        raise TypeError(f"enqueue_many takes a list of calls, and this is one call, {calls!r:.80}: "
                        "enqueue_many([(task, args, kwargs)])")
    app = current()
    messages = [_message(app, call) for call in many.items(calls, "calls", "enqueue_many",
                                                           "(task, args, kwargs) tuples, signatures or messages")]
    return send(app, messages, on_commit=False, outbox=app.config.outbox)


def _message(app: App, call: Call | Message | Step) -> Message:
    if isinstance(call, Message):
        return call
    if isinstance(call, Step):
        return build_message(app, call.task, call.args, call.kwargs, call.call_options())
    if not (isinstance(call, tuple) and len(call) == 3):
        raise TypeError(f"enqueue_many takes (task, args, kwargs) tuples, signatures (add.s(1, 2)) or messages "
                        f"(add.message(...)), not {call!r}")
    return build_message(app, call[0], call[1], call[2], NO_OPTIONS)
