"""Is this deployment able to do its work? The readiness checks behind `manage.py jobs healthcheck`
and the `jobs/health` view, for orchestrators (a Kubernetes readiness probe, a load balancer).

Each check answers one question with one line an operator can act on:
  redis     can Redis be reached (with short timeouts: a probe must not hang on a Redis that does not
            answer)?
  eviction  may Redis delete our keys when its memory is full (redis_setup.py)?
  workers   is there a live worker for every queue that has waiting work?
  beat      when periodic tasks are enabled, is a beat leading (sending them)?
  outbox    with JOBS["OUTBOX"], is a relay sending what the outbox holds (its oldest row younger than
            OUTBOX_STUCK_SECONDS; the Django side reads the table: jobs/readiness.py)?

Liveness is another question, answered without Redis: `runworker --healthcheck-file` has the
worker's supervisor touch a file on each turn of its loop, so a probe that only looks at the file's
age restarts a worker whose supervisor hangs, and never one that is waiting for Redis to come back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..redis.connection import TRANSIENT, redact
from ..redis.server import findings
from ..wire.outgoing import Backlog
from .monitor import Monitor

#: An outbox row older than this (s) means no relay is sending: every worker relays rows over two
#: seconds old, once a second.
OUTBOX_STUCK_SECONDS = 60.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def readiness(monitor: Monitor, allow_eviction: bool, periodic: bool, timeout: float = 2.0) -> list[Check]:
    """The checks, in order; those after a failed `redis` are not run (they would only repeat it)."""
    url = redact(monitor.broker.config.broker_url)
    try:
        setup = monitor.redis_setup(timeout)
    except TRANSIENT as exc:
        return [Check("redis", False, f"Redis at {url} cannot be reached: {exc}")]
    checks = [Check("redis", True, f"Redis {setup.version} at {url}")]
    errors = [f for f in findings(setup, monitor.broker.config.broker_url, allow_eviction) if f.level == "error"]
    checks.append(Check("eviction", not errors, errors[0].message if errors
                        else f"maxmemory-policy {setup.policy or 'unknown (INFO refused)'}"))
    try:
        checks.append(_workers(monitor))
        if periodic:
            checks.append(_beat(monitor))
    except TRANSIENT as exc:
        checks.append(Check("redis", False, f"Redis at {url} stopped answering: {exc}"))
    return checks


def _workers(monitor: Monitor) -> Check:
    alive = [w for w in monitor.workers() if w.alive]
    # A paused queue is meant to wait: its work with no worker is not a failure.
    served = {q for w in alive for q in w.queues} | {q for b in monitor.brokers for q in b.controls.paused()}
    unserved = {name: n for name, n in monitor.queues().items() if n and name not in served}
    if unserved:
        detail = "; ".join(f"queue {name} has {n} waiting task(s) and no live worker consumes it"
                           for name, n in unserved.items())
        return Check("workers", False, f"{detail} (start `manage.py runworker -Q {','.join(unserved)}`)")
    return Check("workers", True, f"{len(alive)} live worker(s)")


def _beat(monitor: Monitor) -> Check:
    leader = monitor.beat_leader()
    if leader is None:
        return Check("beat", False, "periodic tasks are enabled but no beat leads: none is sending them "
                                    "(start `manage.py runbeat`, or `runworker -B`)")
    return Check("beat", True, f"beat {leader} leads")


def outbox(backlog: Backlog, now: float) -> Check:
    age = 0.0 if backlog.oldest is None else now - backlog.oldest
    dead = f"; {backlog.dead} set aside, refused by Redis (the admin's Outbox messages)" if backlog.dead else ""
    if age > OUTBOX_STUCK_SECONDS:
        return Check("outbox", False, f"{backlog.waiting} message(s) wait in the outbox, the oldest for {age:.0f} s: "
                                      f"no relay is sending them (start a worker with JOBS['OUTBOX'], or `manage.py "
                                      f"runrelay`){dead}")
    return Check("outbox", True, f"{backlog.waiting} message(s) in the outbox{dead}")


def summary(checks: list[Check]) -> str:
    """One line: the first failure, or that all is well."""
    failed = [c for c in checks if not c.ok]
    if failed:
        return f"unhealthy: {failed[0].name}: {failed[0].detail}"
    return "ok: " + "; ".join(c.detail for c in checks)


def as_json(checks: list[Check]) -> dict[str, Any]:
    """The `jobs/health` view's document, and `jobs healthcheck --json`'s (stable: docs/operations.md)."""
    return {"ok": all(c.ok for c in checks), "summary": summary(checks), "checks": [asdict(c) for c in checks]}
