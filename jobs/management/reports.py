"""What `manage.py jobs status | inspect | dead show` print: the lines an operator reads, made from
jobs.inspection's reads. Apart from the command (commands/jobs.py), which parses, asks and acts, so
that each of the two reads as one thing: this one only says what is there.

Each function writes through `out` (and warnings through `err`), the command's stdout and stderr."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from jobs import inspection
from jobs.engine.api import DeadLetter, Header, JobsError
from jobs.engine.api import app as engine_app
from jobs.engine.api import redact_url as redact

Write = Callable[[str], Any]


def when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def status(app: Any, out: Write, err: Write) -> None:
    """Queues (paused ones said), scheduled, running, dead letters, workers, the history's backlog;
    on stderr what needs doing: a queue or a route no live worker serves, a Redis set up to lose tasks."""
    monitor = inspection.monitor()
    out(f"broker   {redact(app.config.broker_url)}  (key prefix {app.config.key_prefix!r})")
    for finding in monitor.setup_findings(app.config.allow_eviction):
        err(f"{finding.level.upper()}: {finding.message} {finding.hint}")
    paused = inspection.paused()
    queues = {name: 0 for name in paused} | monitor.queues()
    out("queues   " + (", ".join(f"{name}: {n}" + (" (PAUSED)" if name in paused else "")
                                 for name, n in sorted(queues.items())) or "all empty"))
    counts = inspection.message_counts()
    out(f"scheduled {counts.scheduled} (countdown/ETA/retry)   running {counts.running}   dead letters {counts.dead}")
    workers = monitor.workers()
    out(f"workers  {sum(w.alive for w in workers)} alive")
    for w in workers:
        state = "alive" if w.alive else f"gone (last seen {w.last_seen:.0f} s ago)"
        served = ", ".join(q + (" (PAUSED)" if q in paused else "") for q in w.queues)
        out(f"  {w.hostname}  {w.pool} x{w.concurrency}  queues {served}  {state}")
    for name, n in monitor.unserved_queues().items():
        err(f"WARNING: queue {name!r} has {n} waiting task(s) and no live worker consumes it "
            f"(start one with: manage.py runworker -Q {name})")
    if app.config.history:
        waiting, dropped = inspection.history_backlog()
        lost = ("; not recorded since last reported (backlog full): "
                + ", ".join(f"{n} {kind}" for kind, n in sorted(dropped.items()))) if dropped else ""
        out(f"history  {waiting} outcome(s) waiting for the database{lost}")
    for queue, senders in monitor.unserved_routes(app).items():
        shown = ", ".join(senders[:5]) + (f" and {len(senders) - 5} more" if len(senders) > 5 else "")
        err(f"WARNING: no live worker consumes queue {queue!r}, where {shown} "
            f"{'is' if len(senders) == 1 else 'are'} routed (manage.py runworker -Q {queue})")


def inspected(which: str, found: Any, out: Write) -> None:
    """`jobs inspect WHICH` as text: found is what control.active/scheduled/registered/workers gave."""
    if which == "registered":
        for hostname, names in found.items():
            out(f"{hostname}: {len(names)} task(s)")
            for name in names:
                out(f"  . {name}")
    elif which == "workers":
        for w in found:
            out(f"{w['hostname']}  {'alive' if w['alive'] else 'gone'}  {w['pool']} x{w['concurrency']}  "
                f"queues {','.join(w['queues'])}  seen {w['last_seen']:.0f}s ago  "
                f"processed {w['processed']} ({w['failed']} failed)")
    else:
        what = "lease left" if which == "active" else "due in"
        for h in found:
            where = f"  on {h['worker'] or '(a worker that is gone)'}" if which == "active" else ""
            ran = f"  running {h['running_for']:.1f}s" if h.get("running_for") is not None else ""
            out(f"{h['task']}[{h['id']}]  queue {h['queue']}{where}  {what} {h['seconds']:.1f}s{ran}")
    if not found:
        out(f"nothing {which}" if which in ("active", "scheduled") else "no live workers")


def dead_letter(letter: DeadLetter, out: Write) -> None:
    """One dead letter, with its message's arguments shown as results and logs show them (JOBS["REDACT"])."""
    out(f"id       {letter.id}\ntask id  {letter.task_id}\ntask     {letter.task}\n"
        f"queue    {letter.queue}\n"
        f"time     {when(letter.time)}\nworker   {letter.worker}\nreason   {letter.reason}")
    try:
        header = Header(letter.message)
        envelope = header.fields()
    except (ValueError, JobsError):
        out(f"message  {letter.message!r}")
        return
    if "a" in envelope or "k" in envelope:
        app = engine_app.current()
        task = app.registry.find(header.task)
        envelope["a"], envelope["k"] = app.redactor.stored(task.fn if task else None, envelope.get("a", []),
                                                           envelope.get("k", {}), bool(task and task.bind))[:2]
    out(f"enqueued {when(header.enqueued_at)}\nmessage  {json.dumps(envelope, indent=2)}")
