"""Beat: sends periodic tasks when they are due, from one leader at a time, each run exactly once.

Each tick (about once a second):
1. take or keep leadership: a lease in Redis (lua/beat_lead.lua) that the leader renews every tick.
   Only the leader sends. When it dies (kill -9, a lost host), another beat takes over as the
   lease runs out (BEAT_LEASE_SECONDS, 10 s): a follower asks again at that moment. A beat that
   stops leading forgets its schedules, and reads them afresh if it leads again;
2. reload the schedules if they changed (the store says; for the Django store, one version row);
3. for every entry, the runs due since its last one (schedules.due_runs). A run due in the last
   minute (LATE_GRACE) is sent even if late: a slow tick or a leader hand-over loses nothing. Runs
   due before that were missed while no beat ran: `catch_up="once"` sends one run for them (the
   latest), `"none"` sends nothing, but a clocked schedule's one run is sent late, never dropped
   (periodic.to_send, which the admin's "next run" reads too). From its `expires` on, a periodic
   task sends nothing, and each run it sends expires then at the latest;
4. send each run through lua/beat_send.lua, which enqueues it only if it is due later than the last
   run sent of that periodic task (one hash field each), and moves that mark in the same step. Runs
   go oldest first, so a run is sent once even if two beats both think they lead for a moment (a
   hand-over in the middle of a tick), or a beat sends and dies before recording it. A periodic
   task whose schedule cannot be computed is logged and skipped; the others go on;
5. record the runs in the store, conditionally (only if the stored last run is older), so that
   counts stay right whoever records first. A record that fails (the database is down) is kept and
   retried each tick; meanwhile beat goes on sending from the schedules it has.

The loop is a function of the time passed in (tick(now)), so tests drive it with any clock.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ..redis.backoff import Backoff
from ..redis.connection import RETRYABLE
from ..send.producer import send
from ..setup.app import App
from ..setup.build import message as build_message
from ..wire.options import CallOptions
from .crontab import Crontab
from .periodic import LATE_GRACE, Clocked, Interval, due_runs, to_send

logger = logging.getLogger("jobs.beat")

T = TypeVar("T")

UTC = dt.timezone.utc


@dataclass
class Entry:
    """One periodic task as beat runs it: its schedule, its call, and its last run (`since`)."""

    id: int
    name: str
    task: str
    schedule: Crontab | Interval | Clocked
    since: dt.datetime  # last run, or the start time, or when it was created
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str = ""
    priority: int | None = None
    expire_seconds: int | None = None
    one_off: bool = False
    catch_up: str = "once"
    #: No run is sent from this instant on, and each run sent expires then at the latest (a worker
    #: drops it if it has not started): django-celery-beat's `expires`.
    expires: dt.datetime | None = None


class Store(Protocol):
    """Where entries come from and runs are recorded (the Django one is jobs/beat_store.py)."""

    def version(self) -> int: ...

    def load(self) -> list[Entry]: ...

    def record(self, entry: Entry, due: dt.datetime, sent: bool) -> None: ...


class Beat:
    def __init__(self, app: App, store: Store, lease_seconds: float = 10.0) -> None:
        self.app = app
        self.store = store
        self.id = f"{socket.gethostname()}:{secrets.token_hex(4)}"
        self.lease_ms = int(lease_seconds * 1000)
        self.leading = False
        self.entries: list[Entry] = []
        self._version: int | None = None
        self._unrecorded: list[tuple[Entry, dt.datetime, bool]] = []
        self._backoff = Backoff("beat", logger)
        self._db_failing = False
        self._broken: set[int] = set()
        self._stop: threading.Event | None = None

    # -- one tick ------------------------------------------------------------------------------

    def tick(self, now: dt.datetime | None = None) -> float:
        """Do what is due at `now`; returns seconds until the next tick is worth running."""
        now = now or dt.datetime.now(UTC)
        try:
            lease_left_ms = self._lead()
        except RETRYABLE as exc:
            self._backoff.failed(exc, self._stopping)
            self._follow()
            return 1.0
        leading = lease_left_ms == 0
        if leading != self.leading:
            logger.warning("beat %s %s", self.id, "is the leader now" if leading else "is no longer the leader")
            if not leading:
                self._follow()
            self.leading = leading
        if not leading:
            self._backoff.ok()
            return min(1.0, max(0.01, lease_left_ms / 1000))  # ask again as the lease runs out
        healthy = self._database(self._refresh)
        try:
            for entry in list(self.entries):
                self._guarded(entry, self._run_due, now)
            self._backoff.ok()
        except RETRYABLE as exc:
            self._backoff.failed(exc, self._stopping)  # what was not sent is still due next tick
        healthy = self._database(self._record) and healthy
        if healthy and self._db_failing:
            logger.warning("beat: the database answers again")
            self._db_failing = False
        return self._sleep(now)

    def _follow(self) -> None:
        """Not leading: forget the schedules, so that leading again starts from the database and
        not from what was loaded back then (tasks disabled or changed since must not run)."""
        self.leading = False
        self.entries = []
        self._version = None

    def _guarded(self, entry: Entry, step: Callable[[Entry, dt.datetime], T], now: dt.datetime) -> T | None:
        """One periodic task's step; a schedule that cannot be computed (an error in it, or in
        this code) costs that task its runs, logged once per load, and never the others' or beat."""
        try:
            return step(entry, now)
        except RETRYABLE:
            raise
        except Exception:
            if entry.id not in self._broken:
                self._broken.add(entry.id)
                logger.exception("beat: periodic task %r (%s) failed and is skipped until its schedule changes",
                                 entry.name, entry.task)
            if entry in self.entries:
                self.entries.remove(entry)
            return None

    def _database(self, step: Any) -> bool:
        """Run a step that needs the database: an error is logged (once until a tick works again)
        and the step is tried again next tick; beat never dies of it."""
        try:
            step()
            return True
        except Exception as exc:
            if not self._db_failing:
                logger.error("beat: the database failed (%s: %s); sending from the schedules already loaded and "
                             "trying again every tick", type(exc).__name__, exc)
                self._db_failing = True
            return False

    def _lead(self) -> int:
        """0 if this beat leads, else the ms left on the leader's lease."""
        return self.app.brokers[0].beat.lead(self.id, self.lease_ms)  # one leader, on shard 0, however many shards

    def _refresh(self) -> None:
        if self._unrecorded:
            return  # the stored last runs are behind: reload once they are written
        version = self.store.version()
        if version != self._version:
            self.entries = self.store.load()
            self._version = version
            self._broken.clear()
            logger.info("beat: %d periodic task(s) loaded", len(self.entries))

    def _record(self) -> None:
        while self._unrecorded:
            entry, due, sent = self._unrecorded[0]
            self.store.record(entry, due, sent)
            self._unrecorded.pop(0)

    def _run_due(self, entry: Entry, now: dt.datetime) -> None:
        if entry.expires is not None and now >= entry.expires:
            logger.info("beat: %s expired at %s: no more runs are sent", entry.name, entry.expires.isoformat())
            self.entries.remove(entry)  # until its row changes (a later expiry brings it back)
            return
        due = due_runs(entry.schedule, entry.since, now, LATE_GRACE)
        clocked = isinstance(entry.schedule, Clocked)
        runs, skipped = to_send(due, entry.catch_up, entry.one_off, clocked)
        if due.missed is not None:
            missed = due.missed.isoformat()
            if due.late:
                logger.warning("beat: %s missed runs while no beat was running (the latest at %s); its "
                               "recent runs are sent", entry.name, missed)
            elif skipped is not None:
                logger.warning("beat: %s missed runs while no beat was running (the latest at %s); "
                               "catch_up='none': not sent", entry.name, missed)
                self._done(entry, skipped, sent=False)
            elif clocked and entry.catch_up != "once":
                logger.warning("beat: %s missed its one run, at %s, while no beat was running; sending it now, "
                               "late: a clocked schedule has no next time to wait for", entry.name, missed)
            else:
                logger.warning("beat: %s missed runs while no beat was running; sending one now for the latest, "
                               "at %s (catch_up='once')", entry.name, missed)
        for run in runs:
            self._send(entry, run, now)
            self._done(entry, run, sent=True)

    def _done(self, entry: Entry, due: dt.datetime, sent: bool) -> None:
        entry.since = due
        self._unrecorded.append((entry, due, sent))
        # As the store records it: a one-off is done once sent; a skipped run leaves it waiting.
        if ((entry.one_off and sent) or isinstance(entry.schedule, Clocked)) and entry in self.entries:
            self.entries.remove(entry)

    def _send(self, entry: Entry, due: dt.datetime, now: dt.datetime) -> bool:
        """One run, made as any call is (build.py: its queue and priority from the periodic task, else
        JOBS["ROUTES"], else the registered task, else the defaults), sent once (lua/beat_send.lua)."""
        due_ms = int(due.timestamp() * 1000)
        within = float(entry.expire_seconds) if entry.expire_seconds else None
        expires: float | dt.datetime | None = within
        if entry.expires is not None and (within is None or now + dt.timedelta(seconds=within) > entry.expires):
            expires = entry.expires  # a run not started by the periodic task's end is dropped, as in Celery
        call = CallOptions(task_id=f"beat-{entry.id}-{due_ms}", queue=entry.queue or None, priority=entry.priority,
                           expires=expires)
        message = build_message(self.app, entry.task, entry.args, entry.kwargs, call)
        sent = bool(send(self.app, [message], on_commit=False, periodic=(entry.id, due_ms)))
        if sent:
            logger.info("beat: sent %s (%s) for %s", entry.name, entry.task, due.isoformat())
        else:
            logger.info("beat: %s for %s was already sent (by another beat); recording it", entry.name,
                        due.isoformat())
        return sent

    def _sleep(self, now: dt.datetime) -> float:
        wait = 1.0
        for entry in list(self.entries):
            nxt = self._guarded(entry, lambda e, _: e.schedule.next_after(e.since), now)
            if nxt is not None:
                wait = min(wait, max(0.01, (nxt - now).total_seconds()))
        return wait

    # -- the loop ------------------------------------------------------------------------------

    def _stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def run(self, stop: threading.Event) -> None:
        self._stop = stop
        logger.info("beat %s started", self.id)
        try:
            while not stop.is_set():
                stop.wait(self.tick())
        finally:
            self.resign()
            logger.info("beat %s stopped", self.id)

    def resign(self) -> None:
        """Give up leadership now, so another beat need not wait for the lease to run out."""
        if not self.leading:
            return
        try:
            self.app.brokers[0].beat.resign(self.id)
        except RETRYABLE:
            pass
        self.leading = False
