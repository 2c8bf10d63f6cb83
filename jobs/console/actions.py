"""The console's actions, as a table: each name with the right it needs, what it acts on, whether it
asks first, what it calls in jobs.control and how it says what happened. views.py has one view for
them all (ConsoleAdmin.act): it checks the request and the right, asks where the table says so, then
calls the row's `do`. An action added here is one row and one function, and every change the console
makes goes through jobs.control, as the admin's, the CLI's and your code's do.

"Run all" and "Delete all" of the scheduled page are rows with a `sweep` (control.sweep_scheduled's
action) instead of a `do`: they go on a request at a time (views.py), and their reports are here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import control
from ..inspection import queue_length

#: The right every action of the console needs (besides the admin's login and jobs.view_console).
OPERATE = "jobs.operate_console"


@dataclass(frozen=True)
class Action:
    """One row of the table. `do(targets, due)` acts and returns its report, a sentence for the
    message and the admin's history; `due` is the scheduled rows' due times (ms) by id. `counts`
    gives what its confirm page states (how many each target holds)."""

    what: str  # what it acts on, as the confirm page and the reports name it
    asks: bool  # confirmed first, on a page that says how many
    verb: str
    do: Callable[[list[str], Mapping[str, float]], str] | None = None
    sweep: str = ""  # for a whole-set action: "run" or "delete" (control.sweep_scheduled)
    permission: str = OPERATE
    counts: Callable[[list[str]], dict[str, int]] | None = None


def _purge(queues: list[str], _: Mapping[str, float]) -> str:
    deleted = {queue: control.purge(queue) for queue in queues}
    return "; ".join(f"{n} message(s) deleted from queue {queue}" for queue, n in deleted.items()) + "."


def _waiting(queues: list[str]) -> dict[str, int]:
    return {queue: queue_length(queue) for queue in queues}


def _pause(queues: list[str], _: Mapping[str, float]) -> str:
    changed = [q for q in queues if control.pause(q)]
    unchanged = [q for q in queues if q not in changed]
    return f"Paused: {', '.join(changed) or 'none'}." + (f" Already paused: {', '.join(unchanged)}."
                                                         if unchanged else "")


def _resume(queues: list[str], _: Mapping[str, float]) -> str:
    changed = [q for q in queues if control.resume(q)]
    unchanged = [q for q in queues if q not in changed]
    return f"Resumed: {', '.join(changed) or 'none'}." + (f" Already running: {', '.join(unchanged)}."
                                                          if unchanged else "")


def _shutdown(workers: list[str], _: Mapping[str, float]) -> str:
    asked = [w for w in workers if control.shutdown(w)]
    return f"Asked to shut down (running tasks finish first): {', '.join(asked) or 'none'}."


def _revoke(task_ids: list[str], _: Mapping[str, float]) -> str:
    control.revoke(task_ids, terminate=False)
    return f"{len(task_ids)} task(s) revoked."


def _terminate(task_ids: list[str], _: Mapping[str, float]) -> str:
    control.revoke(task_ids, terminate=True)
    return f"{len(task_ids)} task(s) revoked, and stopped where running."


def _run_scheduled(task_ids: list[str], due: Mapping[str, float]) -> str:
    return f"{control.run_scheduled(task_ids, due)} scheduled task(s) sent to their queues now."


def _delete_scheduled(task_ids: list[str], due: Mapping[str, float]) -> str:
    return f"{control.delete_scheduled(task_ids, due)} scheduled task(s) deleted."


def _run_again(task_ids: list[str], _: Mapping[str, float]) -> str:
    sent = [control.retry(task_id) for task_id in task_ids]
    return "Sent again: " + ", ".join(f"{r.task_name}[{r.id}]" for r in sent) + "."


def _requeue_dead(ids: list[str], _: Mapping[str, float]) -> str:
    return f"{control.requeue_dead(ids)} dead letter(s) put back on their queues."


def _discard_dead(ids: list[str], _: Mapping[str, float]) -> str:
    return f"{control.discard_dead(ids)} dead letter(s) discarded."


ACTIONS: dict[str, Action] = {
    "purge": Action("queue", True, "Delete every message waiting on", _purge, counts=_waiting),
    "pause": Action("queue", False, "Pause", _pause),
    "resume": Action("queue", False, "Resume", _resume),
    "shutdown": Action("worker", True, "Shut down (warm: running tasks finish)", _shutdown),
    "revoke": Action("task", False, "Revoke", _revoke),
    "terminate": Action("task", True, "Terminate (stop where running)", _terminate),
    "run_scheduled": Action("scheduled task", False, "Run now", _run_scheduled),
    "delete_scheduled": Action("scheduled task", True, "Delete", _delete_scheduled),
    "run_again": Action("task", False, "Run again", _run_again),
    "requeue_dead": Action("dead letter", True, "Requeue", _requeue_dead),
    "discard_dead": Action("dead letter", True, "Discard", _discard_dead),
    "run_all_scheduled": Action("scheduled task", True, "Run now", sweep="run"),
    "delete_all_scheduled": Action("scheduled task", True, "Delete", sweep="delete"),
}

#: The actions on the whole scheduled set -> control.sweep_scheduled's action.
SWEEPS = {name: action.sweep for name, action in ACTIONS.items() if action.sweep}


def due_times(due: Mapping[str, str]) -> dict[str, float]:
    """The due times the scheduled page's rows carry (unix ms), for finding them in one round trip;
    one that is not a number is left out (its id is then looked for in the whole set)."""
    out = {}
    for task_id, raw in due.items():
        try:
            out[task_id] = float(raw)
        except ValueError:
            continue
    return out


def sweep_of(post: Any, action: str) -> control.Sweep:
    """Where a "run all" / "delete all" stands, as its confirm or progress page posted it."""
    try:
        upto, total = float(post.get("upto", "")), int(post.get("total", ""))
        taken, done = int(post.get("taken", "0")), int(post.get("done", "0"))
    except ValueError:
        raise ValueError("the form lost where it stood (upto, total, taken, done); start again from the "
                         "Scheduled page") from None
    if min(total, taken, done) < 0:
        raise ValueError("the form's counts are negative; start again from the Scheduled page")
    return control.Sweep(action, upto, total, taken, done)


def sweep_said(sweep: control.Sweep, left: int) -> str:
    """What a "run all" / "delete all" did so far, and what it left: the message and the history."""
    did = "sent to their queues now" if sweep.action == "run" else "deleted"
    said = f"{sweep.done:,} scheduled task(s) {did}"
    gone = sweep.taken - sweep.done
    if gone:
        said += (f" ({gone:,} had gone meanwhile: promoted at their time"
                 + (", or unreadable and moved to the dead letters)" if sweep.action == "run" else ")"))
    if not sweep.finished:
        return f"{said}; {sweep.taken:,} of the {sweep.total:,} counted when you confirmed so far, going on."
    return (f"{said}, of the {sweep.total:,} counted when you confirmed; {left:,} scheduled now"
            + (" (scheduled since, or due after the last one counted)." if left else "."))
