"""A worker whose queues live on several shards (JOBS["SHARDS"], setup/shards.py): one supervisor
process per shard, each a whole worker of one shard.

Why whole workers and not one worker fetching from every shard: a shard is a Redis keyspace of its
own (on a Cluster, another master), and everything a worker promises is kept within one: its
leases, heartbeats, maintain.lua, the fetch that blocks on the shard's wake lists, the recorder of
that shard's history. A supervisor per shard keeps each promise as it is with one Redis, and makes the
fetch fair across shards without polling: each shard has consumers of its own, blocked on its own
lists, none starved by a busy neighbour. Priorities hold within a shard; across shards there is no
global order.

    run(app, options)      one shard: the worker of today, bound to it (app.bind); several: ShardParent
    ShardParent            forks one supervisor per shard, `-c` shared among them (each at least 1),
                           forwards SIGTERM, SIGINT (the first as shutdown.WARM) and SIGQUIT, starts
                           again one that dies unexpectedly
                           (after a pause), and returns once all have ended
    warn_moved()           at start, once: messages of its queues waiting on a shard they no longer map to
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import signal
import sys
import time

from ..redis.connection import RETRYABLE
from ..setup.app import App
from .shutdown import WARM
from .spec import WorkerOptions
from .supervisor import Supervisor

logger = logging.getLogger("jobs.worker")

#: The signals the parent passes on to every shard's supervisor (SIGCHLD only wakes it).
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
#: A shard's supervisor that died is started again after this pause, doubled for each quick death (at most 30 s).
RESTART_PAUSE = 1.0


def run(app: App, options: WorkerOptions) -> None:
    """The worker of these queues, on the shards they map to."""
    if app.config.shards == 1:
        Supervisor(app, options).run()  # a single keyspace: nothing of this module runs
        return
    warn_moved(app, options.queues)
    spread = app.shards.spread(options.queues)
    if len(spread) == 1:
        [shard] = spread
        app.bind(shard)
        Supervisor(app, options).run()
        return
    ShardParent(app, options, spread).run()


def shares(options: WorkerOptions, spread: dict[int, list[str]]) -> dict[int, WorkerOptions]:
    """Each shard's worker: its queues (in -Q's order), its share of the concurrency (the remainder to
    the first shards; each at least 1), a name with the shard's suffix (worker ids stay unique)."""
    count = len(spread)
    base, extra = divmod(options.concurrency, count)
    return {shard: dataclasses.replace(options, queues=queues, concurrency=max(1, base + (i < extra)),
                                       hostname=f"{options.hostname}.s{shard}", forwarded=True)
            for i, (shard, queues) in enumerate(spread.items())}


def warn_moved(app: App, queues: list[str]) -> None:
    """Log, once, each queue of this worker that has messages waiting on another shard than the one it
    maps to now (SHARDS or QUEUE_SHARD changed): no worker of this setup takes them from there."""
    try:
        for queue in queues:
            home = app.shard_of(queue)
            for broker in app.brokers:
                waiting = broker.controls.queue_length(queue) if broker.shard != home else 0
                if waiting:
                    logger.warning(
                        "queue %r has %d message(s) waiting on shard %d, but maps to shard %d now (JOBS['SHARDS'] or "
                        "QUEUE_SHARD changed): no worker takes them from there. Drain them with the old setting "
                        "(docs/settings.md, SHARDS), or send them again.", queue, waiting, broker.shard, home)
    except RETRYABLE as exc:
        logger.warning("could not look for messages left on other shards: %s", exc)


class ShardParent:
    """The parent of one supervisor process per shard (see the module docstring)."""

    def __init__(self, app: App, options: WorkerOptions, spread: dict[int, list[str]]) -> None:
        self.app = app
        self.each = shares(options, spread)
        self.pids: dict[int, int] = {}  # pid -> shard
        self.restart_at: dict[int, float] = {}  # shard -> when
        self.born: dict[int, float] = {}
        self.quick_deaths: dict[int, int] = dict.fromkeys(spread, 0)
        self.stopping = False

    def run(self) -> None:
        for shard, each in self.each.items():
            logger.info("shard %d: queues %s, concurrency %d (%s)", shard, ", ".join(each.queues), each.concurrency,
                        each.hostname)
        # The signals wait in the mask, read by sigtimedwait below: no handler runs in this process,
        # and a fork inherits no handler of it.
        waited = {*FORWARDED, signal.SIGCHLD}
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, waited)
        try:
            for shard in self.each:
                self._start(shard, previous)
            while self.pids or (self.restart_at and not self.stopping):
                self._reap()
                now = time.monotonic()
                for shard, when in list(self.restart_at.items()):
                    if now >= when and not self.stopping:
                        del self.restart_at[shard]
                        self._start(shard, previous)
                if not self.pids and (self.stopping or not self.restart_at):
                    break
                wake = min([now + 1.0, *self.restart_at.values()])
                got = signal.sigtimedwait(waited, max(0.0, wake - time.monotonic()))
                if got is not None and got.si_signo in FORWARDED:
                    self._forward(got.si_signo)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def _forward(self, signum: int) -> None:
        """The first SIGTERM or SIGINT goes on as WARM: a warm shutdown even to a supervisor that got
        the signal itself too (systemd's and a terminal's way); the next ones, and SIGQUIT, as they are."""
        if not self.stopping:
            logger.info("%s: passed on to the %d shard supervisor(s)", signal.Signals(signum).name, len(self.pids))
            if signum != signal.SIGQUIT:
                signum = WARM
        self.stopping = True
        for pid in self.pids:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def _reap(self) -> None:
        while self.pids:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            shard = self.pids.pop(pid, None)
            if shard is None:
                continue
            if self.stopping or os.waitstatus_to_exitcode(status) == 0:
                continue  # asked to stop (a signal, or control.shutdown): it stays stopped
            now = time.monotonic()
            quick = now - self.born.get(shard, now) < 5
            self.quick_deaths[shard] = self.quick_deaths[shard] + 1 if quick else 0
            pause = min(RESTART_PAUSE * 2.0 ** self.quick_deaths[shard], 30.0)
            logger.error("the supervisor of shard %d (pid %d) ended unexpectedly (exit %d); started again in %g s",
                         shard, pid, os.waitstatus_to_exitcode(status), pause)
            self.restart_at[shard] = now + pause

    def _start(self, shard: int, mask: set[int | signal.Signals]) -> None:
        self.app.hooks.emit("before_fork")
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        pid = os.fork()
        if pid:
            self.pids[pid] = shard
            self.born[shard] = time.monotonic()
            return
        code = 1
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, {*mask, WARM})  # until its handler is in (shutdown.handled)
            _term_with_parent(parent)
            self.app.bind(shard)
            Supervisor(self.app, self.each[shard]).run()
            code = 0
        except BaseException:
            logger.exception("the supervisor of shard %d failed", shard)
        finally:
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)


def _term_with_parent(parent: int) -> None:
    """A shard's supervisor gets SIGTERM (a warm shutdown) if the parent dies, even by kill -9 (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)
