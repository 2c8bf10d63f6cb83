"""What else a settled run does, in the same atomic step as its acknowledgement (lib/ack.lua reads
it): the next node of its chain (a step, or the members of a group or a chord), its link callbacks
(or, when it failed, its link_error ones), its branch counted in its join and the join's callback
sent by the ack that completes it, its unique lock released, its expiry entry dropped, a failed
attempt listed. (A chord's callback reads the members' results it runs with in chord_args.py.)

A step revoked before any worker runs it, or moved to the dead letters, has no ack: the script
that takes or buries it marks what follows it instead (lib/workflow_end.lua never_run), from the
message; one that a worker ends as REVOKED (terminated, or expired when it starts) is followed up
here like a failure.

link_error, as Celery's: an errback whose function has room for (request, exception, traceback
text) in front of its own arguments is called here, in the worker (settle.notify, errback_here);
any other is sent as a task with the failed task's id in front.

Workflows travel in the messages (workflow.py), and the next step's message is made as any other
(build.py): the worker needs nothing of the client's classes (canvas.py).
"""

from __future__ import annotations

import inspect
import time
from typing import Any

from .. import tracing
from ..errors import ChordError
from ..setup.app import App
from ..setup.build import message as build_message
from ..setup.build import queue_of
from ..setup.definition import TaskDefinition
from ..setup.shards import CrossShardWorkflow
from ..wire.message import Message
from ..wire.message_options import MessageOptions
from ..wire.outcome import FAILURE, READY_STATES, REVOKED, SUCCESS, Outcome, about
from ..wire.outcome import encode as encode_result
from ..wire.serializers import json_dumps, json_loads
from ..wire.workflow import ChainNode, ChordSpec, Launch, Step, leaves, start


def follow_up(app: App, message: Message, outcome: Outcome, hostname: str) -> str:
    """The JSON `extra` of a settled run's Ack ('' for a plain task, and for a retry: the same run
    goes on)."""
    options = message.options
    if outcome.status not in READY_STATES:
        return ""
    expiring = message.expires is not None or message.expires_in is not None
    if not (expiring or options.chain or options.chord or options.unique or options.link or options.link_error):
        return ""
    keys = app.keys
    extra: dict[str, Any] = {}
    ended = True
    if options.chain:
        ended = _chain(app, message, outcome, hostname, extra)
    callbacks = _callbacks(app, message, outcome)
    if callbacks:
        extra["f"] = [*extra.get("f", []), *(_entry(app, m) for m in callbacks)]
    if options.unique:  # a unique task's run ended: its lock goes (enqueue_unique.lua)
        extra["u"] = [options.unique, message.id]
    if expiring:  # its expiry entry is not needed any more (lua/fetch.lua)
        extra["x"] = [keys.expiries, message.id]
    chord = options.chord
    if chord is not None and ended:  # its branch ended here: counted in its join (lib/ack.lua)
        home = join_home(app, chord)
        if home == app.home:
            extra["c"] = _join(app, chord, message.id, home)
        else:  # counted on the join's home shard, by its forwarder (redis/lua/joined.lua)
            envelope = {"j": _join(app, chord, message.id, home), "k": home}
            extra["f"] = [*extra.get("f", []), _forward_entry(app, envelope)]
    return json_dumps(extra)


def join_home(app: App, chord: ChordSpec) -> int:
    """The shard a join is counted on, whichever shards its branches run on: that of its callback's
    (first) queue, so the ack that completes it sends the callback on its own shard; a group that
    has no callback is counted where the join it ends in is, so a nested workflow advances outwards
    in one script. Every branch works it out alike from its message alone: no branch needs to know
    where another ran. With one shard, or a workflow on one shard, it is the ack's own shard."""
    if app.config.shards == 1:
        return app.home
    while chord.callback is None and chord.after is not None:
        chord = chord.after
    first = next(leaves(chord.callback), None) if chord.callback is not None else None
    return app.home if first is None else app.shard_of(queue_of(app, first))


def _callbacks(app: App, message: Message, outcome: Outcome) -> list[Message]:
    """The link callbacks of a success (its result in front of their arguments, unless immutable),
    or the link_error ones of a failure that are sent as tasks (the failed task's id in front)."""
    parent = MessageOptions(parent=message.id)
    if outcome.status == SUCCESS:
        return [_message_of(app, step.with_args((outcome.value,)), parent) for step in message.options.link]
    if outcome.status == FAILURE:
        return [_message_of(app, step.with_args((message.id,)), parent) for step in message.options.link_error
                if errback_here(app, step) is None]
    return []


def errback_here(app: App, step: Step) -> TaskDefinition | None:
    """The task of a link_error step that is called in the worker, or None. It is when its function
    has room for (request, exception, traceback) in front of the step's own arguments: Celery's
    "takes more than one argument", made exact, so that errback(task_id, key) with .s(key) is still
    sent as a task with the id, as Celery's old-style errbacks are."""
    task = app.registry.find(step.task)
    if task is None:
        return None
    try:
        params = [p for p in inspect.signature(task.fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    except (TypeError, ValueError):
        return None
    if task.bind and params:
        params = params[1:]
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return task
    return task if len(params) >= 3 + len(step.args) else None


def attempt_failed(app: App, message: Message, outcome: Outcome, extra: str) -> str:
    """`extra` with this run's error added to the task's attempts list (lib/ack.lua `a`), for a
    task that keeps its attempts: its class path and traceback, as django.tasks' TaskError has them."""
    exc = outcome.exception
    assert exc is not None
    cls = type(exc)
    entry = json_dumps({"e": f"{cls.__module__}.{cls.__qualname__}", "tb": outcome.traceback or "",
                        "t": time.time()})
    doc = json_loads(extra) if extra else {}
    doc["a"] = [app.keys.attempts(message.id), entry]
    return json_dumps(doc)


def _chain(app: App, message: Message, outcome: Outcome, hostname: str, extra: dict[str, Any]) -> bool:
    """The next node of its chain started with this step's result in front (True if its branch
    ended here), or, after a failure, the failure as the result of every step that will not run
    (then its branch ended, and its join counts it: the callback reads the failure)."""
    rest = message.options.chain
    failed = outcome if outcome.status != SUCCESS else None
    if failed is None:
        try:
            node = rest[0] if len(rest) == 1 else ChainNode(rest)
            launches = start(node, (outcome.value,), None, message.options.chord)
            extra["f"] = [_entry(app, m) for m in _started(app, launches, message.id)]
            return False
        except Exception as exc:  # the value cannot travel as an argument (EncodeError, ...)
            failed = Outcome(FAILURE, exception=exc, traceback=f"{type(exc).__name__}: {exc}")
    extra["r"] = []
    for step in (step for node in rest for step in leaves(node)):
        written = _failed_result(app, step, failed, message, hostname)
        shard = app.shard_of(queue_of(app, step)) if app.config.shards > 1 else app.home
        if shard == app.home:
            extra["r"].append(written)
        else:  # its result lives on its own shard: handed there (redis/forwards.py)
            envelope = {"r": step.id or "", "k": shard, "p": written[2]}
            extra.setdefault("f", []).append(_forward_entry(app, envelope))
    return True


def _join(app: App, chord: ChordSpec, member: str, home: int) -> dict[str, Any]:
    """A branch of `chord` ended: its entry for lib/ack.lua (`c`) or lua/joined.lua, in the keys of
    the join's `home` shard, with the callback's messages to send if this completes the chord, or,
    for a group that has no callback, the join it counts in then (`up`, on the same shard:
    join_home), and so on outwards."""
    keys = app.shard_keys[home]
    doc: dict[str, Any] = {"k": keys.chord_done(chord.id), "m": chord.member or member, "n": chord.size,
                           "t": int(app.config.result_expires * 1000)}
    if chord.callback is not None:
        launches = start(chord.callback, then=chord.after, chord_of=chord.id)
        doc["f"] = [_entry(app, m, home) for m in _started(app, launches, chord.id)]
    elif chord.after is not None:
        doc["up"] = _join(app, chord.after, chord.id, home)
    return doc


def _started(app: App, launches: list[Launch], parent: str) -> list[Message]:
    return [_message_of(app, launch.step, MessageOptions(**launch.fields(parent))) for launch in launches]


def _message_of(app: App, step: Step, workflow: MessageOptions) -> Message:
    """Sent by the ack, not by producer.send: its trace context is added here."""
    [message] = tracing.produced([build_message(app, step.task, step.args, step.kwargs, step.call_options(),
                                                workflow)])
    return message


def _entry(app: App, message: Message, at: int | None = None) -> dict[str, Any]:
    """A message to send, as lib/ack.lua's enqueue_now takes it (due times and expiries put on
    Redis's clock there), signed as producer.send signs (JOBS["SIGNING_KEYS"]), by a script on shard
    `at` (this process's shard unless said): handed to the forwarder if its queue is on another."""
    at = app.home if at is None else at
    keys, key = app.shard_keys[at], app.config.signing_key
    if app.config.shards > 1 and app.shard_of(message.queue) != at:
        if message.options.unique is None:
            # A chain's next step, a link, a branch of a join (counted on the join's home shard
            # whichever shard it runs on), a join's callback (it reads its members' results on
            # every shard): sent on by the forwarder (redis/forwards.py).
            return _forwarded(app, message, at)
        # A unique task's lock is taken by the send (enqueue_unique.lua), which the forwarder does not make.
        raise CrossShardWorkflow(
            f"{message.task} (queue {message.queue}, on shard {app.shard_of(message.queue)}) is a unique task that "
            f"follows a step of shard {at}: a unique step of a workflow must map to the shard of the step before "
            f"it. Map {message.queue!r} to shard {at} with JOBS['QUEUE_SHARD'], or route the step elsewhere.")
    entry: dict[str, Any]
    if message.delayed:
        entry = {"k": keys.scheduled, "w": keys.wake(message.queue), "s": message.due(), "d": 1,
                 "m": message.entry(key)}
    else:
        entry = {"k": keys.queue(message.queue), "w": keys.wake(message.queue), "s": message.score,
                 "m": message.encode(key)}
    if message.expiry():
        entry["x"] = [keys.expiries, message.id, message.expiry()]
    entry["q"] = [keys.queues, message.queue]
    return entry


def _forwarded(app: App, message: Message, at: int | None = None) -> dict[str, Any]:
    """A message for another shard, as the ack hands it over (redis/forwards.py, send/forwarder.py):
    what a send needs, its due time and expiry as the message says them (counted from the forward)."""
    envelope = {"id": message.id, "t": message.task, "q": message.queue, "s": message.score,
                "w": message.encode(app.config.signing_key), "d": message.due(), "x": message.expiry(),
                "dl": message.delayed, "c": time.time()}
    return _forward_entry(app, envelope, at)


def _forward_entry(app: App, envelope: dict[str, Any], at: int | None = None) -> dict[str, Any]:
    """An envelope for the forward set of shard `at` (this process's unless said)."""
    keys = app.shard_keys[app.home if at is None else at]
    return {"k": keys.forward, "w": keys.forward_wake, "s": 0, "m": json_dumps(envelope)}


def _failed_result(app: App, step: Step, failed: Outcome, message: Message, hostname: str) -> list[str]:
    why = (f"{failed.traceback or ''}\n(not run: step {message.task}[{message.id}] of its chain "
           f"{'was revoked' if failed.status == REVOKED else 'failed'})")
    outcome = Outcome(FAILURE, exception=failed.exception or ChordError(failed.reason or "revoked"), traceback=why)
    known = app.registry.find(step.task)
    stored = app.redactor.stored(known.fn if known else None, step.args, step.kwargs, bool(known and known.bind))
    # Its document names it (the history keys rows by id), and says which run it followed.
    step_about = about(step.id or "", stored, step.options.queue or "", 0, 0.0, message.id)
    payload = encode_result(outcome, step.task, app.config.result_serializer, hostname, step_about)
    return [app.keys.result(step.id or ""), app.keys.done(step.id or ""), payload]
