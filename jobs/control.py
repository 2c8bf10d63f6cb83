"""Act on a running deployment from Python: every change an operator makes to Redis, in one place,
called alike by the console (its table of actions, console/actions.py), the admin, the CLI (`manage.py
jobs purge | pause | resume | revoke | retry | dead ...`) and your code (Celery's app.control). The
reads (`celery inspect`) are jobs.inspection's, and the usual ones are here too:

    from jobs import control
    control.workers()                  # live and gone workers, with their queues
    control.active()                   # what the workers hold now
    control.scheduled()                # what waits for its time (countdown, ETA, retry)
    control.registered()               # worker hostname -> the task names it knows
    control.revoke("<id>", terminate=True)   # one id, or an iterable of ids (any call taking ids)
    control.purge("emails")            # -> how many waiting messages were deleted
    control.pause("emails")            # no worker takes from it (cluster-wide) until resume
    control.resume("emails")
    control.paused()                   # {"emails": <paused since, unix time>}
    control.retry("<id>")              # the same call again, as a new task; -> AsyncResult
    control.shutdown("<worker id>")    # that worker stops as on SIGTERM (running tasks finish)
    control.run_scheduled(["<id>"])    # a countdown/ETA/retry message onto its queue now
    control.delete_scheduled(["<id>"])
    control.sweep_scheduled("run")     # every scheduled message, in batches (or "delete")
    control.dead_letters(50, 0, reason="MAX_DELIVERIES")  # -> (a page of DeadLetter, more?)
    control.requeue_dead(["<id>"]); control.discard_dead(["<id>"]); control.purge_dead()
    control.monitor()                  # the read API the console uses (engine/monitor.py)

Everything reads and writes Redis through the engine (broker.py, monitor.py); retry also reads the
task history (TaskResult).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db import DatabaseError

from .engine.api import (
    AsyncResult,
    JobsError,
    check_name,
    current,
    decode_result,
    json_loads,
    many,
    send_task,
)
from .inspection import active as active
from .inspection import dead_letters as dead_letters
from .inspection import monitor as monitor
from .inspection import paused as paused
from .inspection import registered as registered
from .inspection import scheduled as scheduled
from .inspection import stored_result
from .inspection import workers as workers
from .models import TaskResult


def revoke(task_ids: str | Iterable[str], terminate: bool = False) -> int:
    """Keep tasks from running; with terminate, stop them if running (AsyncResult.revoke). One id
    or an iterable of ids, as every call here that takes ids: a str is one id, never its
    characters (many.ids); how many were marked."""
    found = many.ids(task_ids, "task_ids", "control.revoke")
    if not found:
        return 0
    # Each shard's fetch checks its own revoked set, and a task id does not say where it waits.
    return max(b.controls.revoke(found, terminate) for b in current().brokers)


def purge(queue: str) -> int:
    """Delete every message waiting on `queue`; how many there were. Running, scheduled and dead
    ones stay. On every shard, and every part of a spread queue (QUEUE_SPREAD): one left on the shard a
    queue mapped to before (SHARDS or QUEUE_SHARD changed) is purged too."""
    check_name("queue", many.one(queue, "queue", "control.purge"), JobsError)
    app = current()
    return sum(b.controls.purge(part) for part in app.shards.parts(queue) for b in app.brokers)


def pause(queue: str) -> bool:
    """Stop every worker taking from `queue`, cluster-wide, until resume(): its messages stay,
    senders and beat go on adding to it, running tasks finish. False if it was paused already."""
    check_name("queue", many.one(queue, "queue", "control.pause"), JobsError)
    app = current()  # every part of a spread queue, on every shard: a list, not a short cut
    return any([b.controls.pause(part) for part in app.shards.parts(queue) for b in app.brokers])


def resume(queue: str) -> bool:
    """Let workers take from a paused queue again; False if it was not paused."""
    check_name("queue", many.one(queue, "queue", "control.resume"), JobsError)
    app = current()
    return any([b.controls.resume(part) for part in app.shards.parts(queue) for b in app.brokers])


def shutdown(worker_id: str) -> bool:
    """Ask one worker (its id, as workers() lists it) to stop as on SIGTERM, from any host: within
    about a second it takes no more tasks, lets its running ones finish (up to its
    --shutdown-timeout), hands back what it prefetched, and exits 0. False if no live worker has
    that id."""
    worker_id = many.one(worker_id, "worker_id", "control.shutdown")
    # A worker's heartbeat is on the shard it serves: asked on each, the one that has it says yes.
    return any([b.controls.request_shutdown(worker_id) for b in current().brokers])


def run_scheduled(task_ids: str | Iterable[str], due: Mapping[str, float] | None = None) -> int:
    """Send scheduled messages (countdown, ETA, retry) with these task ids to their queues now, or
    straight to an idle worker; how many were sent. They are looked for in the whole set, from the
    soonest (Monitor.scheduled_members: cheap for ids from the first pages of a list), or, given
    their `due` time (ms, the set's score, as the console's rows carry it), at that time alone; one
    that is due, and promoted meanwhile, is not sent twice."""
    found = many.ids(task_ids, "task_ids", "control.run_scheduled")
    members = monitor().scheduled_members(found, due) if found else []
    return _on_every_shard("run", members)


def delete_scheduled(task_ids: str | Iterable[str], due: Mapping[str, float] | None = None) -> int:
    """Delete scheduled messages with these task ids (found as run_scheduled finds them); how many
    were. As purge: no result is stored for them, so a caller waiting on one waits until its own
    timeout."""
    found = many.ids(task_ids, "task_ids", "control.delete_scheduled")
    members = monitor().scheduled_members(found, due) if found else []
    return _on_every_shard("delete", members)


def _on_every_shard(action: str, members: list[bytes]) -> int:
    """Run or delete these exact members of the scheduled set wherever they are: each shard's script
    moves the ones it holds (a member names its message whole, so no shard holds another's)."""
    if not members:
        return 0
    return sum((b.scheduled.run if action == "run" else b.scheduled.delete)(members) for b in current().brokers)


#: Scheduled messages read and acted on a round trip by sweep_scheduled.
SWEEP_BATCH = 1000


@dataclass(frozen=True)
class Sweep:
    """Where a whole-set action on the scheduled messages stands: "run" (each sent now, as
    run_scheduled does) or "delete". It covers the messages due by `upto` (ms, the latest due when
    it began), and `total` of them at most (how many there were then): a message scheduled since,
    or a retry of one just run, cannot keep it going for ever. `taken`: read and taken out of the
    set; `done`: of those, sent or deleted (not those promoted at their time meanwhile, nor an
    unreadable one, which run_scheduled moves to the dead letters)."""

    action: str
    upto: float
    total: int
    taken: int = 0
    done: int = 0
    finished: bool = False


def sweep_scheduled(action: str, sweep: Sweep | None = None, seconds: float | None = None) -> Sweep:
    """Run ("run") or delete ("delete") every scheduled message, soonest first, SWEEP_BATCH a
    batch (two round trips each), from the start or from where `sweep` stopped. Without `seconds`,
    to the end; with it, it stops after the batch that passes that long and returns where it
    stands, to be passed back: the console goes on a request at a time, showing how far it got."""
    if action not in ("run", "delete"):
        raise ValueError(f"control.sweep_scheduled: action is {action!r}: 'run' or 'delete'")
    reader = monitor()
    if sweep is None:
        total, upto = reader.scheduled_extent()
        sweep = Sweep(action, upto, total)
    elif sweep.action != action:
        raise ValueError(f"control.sweep_scheduled: the sweep given is a {sweep.action!r}, not a {action!r}")
    deadline = None if seconds is None else time.monotonic() + seconds
    taken, done = sweep.taken, sweep.done
    while taken < sweep.total:
        want = min(SWEEP_BATCH, sweep.total - taken)
        members = reader.scheduled_due_by(sweep.upto, want)
        if members:
            done += _on_every_shard(action, members)
            taken += len(members)
        if len(members) < want:
            break  # none left of those it covers
        if deadline is not None and time.monotonic() >= deadline and taken < sweep.total:
            return dataclasses.replace(sweep, taken=taken, done=done)
    return dataclasses.replace(sweep, taken=taken, done=done, finished=True)


def requeue_dead(ids: str | Iterable[str]) -> int:
    """Put dead letters back on their queues as new deliveries; how many were (a letter whose
    message could not be read stays)."""
    return len(requeue_dead_each(ids))


def requeue_dead_each(ids: str | Iterable[str]) -> list[str]:
    """requeue_dead, saying which: the ids put back (not an unknown id, nor one with no queue to go
    back to)."""
    found = many.ids(ids, "ids", "control.requeue_dead")
    return [i for b in current().brokers for i in b.dead.requeue(found)] if found else []


def discard_dead(ids: str | Iterable[str]) -> int:
    """Delete dead letters; how many there were."""
    found = many.ids(ids, "ids", "control.discard_dead")
    return sum(b.dead.discard(found) for b in current().brokers) if found else 0


def purge_dead(upto: str = "+inf") -> int:
    """Delete every dead letter, or those up to `upto` (inspection.newest_dead() when they were
    counted: not one that arrived while the operator was asked); how many were."""
    return sum(b.dead.purge(upto) for b in current().brokers)


def retry(task_id: str) -> AsyncResult:
    """Send a task again with the arguments it was called with, as a new task whose parent is the
    old one. The arguments come from the task history, else from its extended result in Redis; a
    task whose stored arguments were redacted or cut (REDACT, STORED_ARGS_MAX) cannot be sent again:
    those are not its arguments."""
    many.one(task_id, "task_id", "control.retry")
    try:
        row = TaskResult.objects.filter(task_id=task_id).first()
    except DatabaseError:  # no history here (its migration not run, the database away): Redis may know
        row = None
    if row is not None:
        return send_again(row)
    raw = stored_result(task_id)
    if raw is None:
        raise JobsError(f"no task {task_id!r} in the history or in Redis: nothing to send again")
    meta = decode_result(raw, current().config.accept_content)
    if not meta.task or not isinstance(meta.args, list) or not isinstance(meta.kwargs, dict):
        raise JobsError(f"task {task_id!r}: its result does not say what it was called with "
                        "(JOBS['RESULT_EXTENDED'] off?), so it cannot be sent again")
    if _cut(raw):
        raise JobsError(f"{meta.task}[{task_id}]: its stored arguments are redacted or cut (JOBS['REDACT'], "
                        "STORED_ARGS_MAX), so they are not its arguments; not sent")
    return send_task(meta.task, meta.args, meta.kwargs, queue=meta.queue or None, parent_id=task_id)


def send_again(row: TaskResult) -> AsyncResult:
    """A history row's task, again (control.retry, and the admin's "run again")."""
    if not row.args_complete:
        raise JobsError(f"{row.name}[{row.task_id}]: its arguments are stored redacted or cut (JOBS['REDACT'], "
                        "STORED_ARGS_MAX), so they are not its arguments; not sent")
    args = json_loads(row.args or "[]")
    kwargs = json_loads(row.kwargs or "{}")
    return send_task(row.name, args, kwargs, queue=row.queue or None, parent_id=row.task_id)


def _cut(raw: bytes) -> bool:
    return bool(json_loads(raw).get("cut"))
