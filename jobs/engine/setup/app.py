"""The current jobs setup of this process: settings, task registry, broker, hooks.

Tasks are declared at import time with no app object (like Celery's shared_task), and settings are
only read when first needed: importing a tasks module must not require Redis or even settings. The
Django layer installs a loader (jobs/conf.py) and calls reset() when settings change in tests. A
forked child gets its own broker connections: sockets are never shared across processes.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..redis.broker import Broker
from ..redis.keys import Keys
from ..wire.redact import Redactor
from .config import Config
from .ratelimit import RateLimits
from .registry import Registry, registry
from .routing import Router
from .shards import ShardMap

if TYPE_CHECKING:  # the history's code runs in a worker's recorder process only, never on its way to a task
    from ..wire.outgoing import OutboxStore
    from ..wire.record import HistoryStore

logger = logging.getLogger("jobs")


class Hooks:
    """Named events an integration (the Django layer, a test) can listen to, without the engine
    knowing who listens. A listener that raises is logged with its traceback and changes nothing
    else: the task's result is stored, its message acknowledged, the worker alive.

    Events and their keyword arguments:
        before_fork, child_started                          (no arguments)
        worker_ready, worker_shutdown                       hostname
        task_received                                       request
        task_prerun                                         task, request
        task_success                                        task, request, result
        task_retry                                          task, request, exception, traceback, eta
        task_failure                                        task, request, exception, traceback
        task_revoked                                        task_id, task_name, reason, terminated
        task_postrun                                        task, request, status, result
    """

    EVENTS = ("before_fork", "child_started", "worker_ready", "worker_shutdown", "task_received",
              "task_prerun", "task_success", "task_retry", "task_failure", "task_revoked",
              "task_postrun")

    def __init__(self) -> None:
        self._listeners: dict[str, list[Callable[..., Any]]] = {event: [] for event in self.EVENTS}

    def connect(self, event: str, listener: Callable[..., Any]) -> None:
        if listener not in self._listeners[event]:
            self._listeners[event].append(listener)

    def disconnect(self, event: str, listener: Callable[..., Any]) -> None:
        if listener in self._listeners[event]:
            self._listeners[event].remove(listener)

    def emit(self, event: str, **kwargs: Any) -> None:
        for listener in self._listeners[event]:
            try:
                listener(**kwargs)
            except Exception:
                logger.exception("a listener of %s (%r) failed; nothing else is affected", event, listener)


hooks = Hooks()


class App:
    """The jobs setup of this process: settings, tasks, the brokers (one per shard, one set per process:
    a forked child makes its own), and the Django layer's hooks into transactions and async tasks.

    `broker` is this process's home shard's: shard 0's, or, in a shard's worker (bind()), that
    shard's, so that everything a worker does on its own (fetch, ack, leases, maintain, history)
    stays on the shard it serves. Sends, results and revocations go where their queue lives
    (broker_for, shard_of; setup/shards.py)."""

    def __init__(self, config: Config, tasks: Registry | None = None,
                 on_commit: Callable[[Callable[[], None]], None] | None = None,
                 wrap_coroutine: Callable[[Any], Any] | None = None,
                 history_store: Callable[[], HistoryStore] | None = None,
                 outbox_store: Callable[[], OutboxStore] | None = None) -> None:
        self.config = config
        self.registry = tasks if tasks is not None else registry
        #: Queue -> shard (shards.py).
        self.shards = ShardMap(config.shards, tuple(config.queue_shard.items()),
                               tuple((q, n) for q, n in config.queue_spread.items() if n > 1))
        #: The key names of each shard (index = shard).
        self.shard_keys = [Keys(config.key_prefix, shard) for shard in range(config.shards)]
        #: This process's shard: 0, or the one its worker serves (bind()).
        self.home = 0
        self.router = Router(config.routes)
        self.rate_limits = RateLimits(config.rate_limits)
        #: What of a call's arguments may be written down (redact.py).
        self.redactor = Redactor(config.redact, config.stored_args_max)
        self.hooks = hooks
        #: Runs a callable when the caller's database transaction commits (at once outside one;
        #: never if it rolls back): Django's transaction.on_commit. The engine has no database.
        self.on_commit = on_commit
        #: Wraps the coroutine of an async task before it runs (the Django layer closes stale
        #: database connections around it, in the thread where the async ORM keeps them).
        self.wrap_coroutine = wrap_coroutine
        #: Makes where the workers' recorders write the history (the Django side: the database);
        #: None: no recorder runs (history.py).
        self.history_store = history_store
        #: Makes where messages sent inside a transaction wait for its commit (JOBS["OUTBOX"]: the
        #: Django side's outbox table); None: no outbox here.
        self.outbox_store = outbox_store
        self._outbox: OutboxStore | None = None
        self._brokers: list[Broker] | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()

    @property
    def keys(self) -> Keys:
        """The key names of this process's shard."""
        return self.shard_keys[self.home]

    @property
    def brokers(self) -> list[Broker]:
        """One broker per shard (index = shard), made on first use in each process."""
        brokers = self._brokers
        if brokers is None or self._pid != os.getpid():
            with self._lock:
                if self._brokers is None or self._pid != os.getpid():
                    self._brokers = [Broker(self.config, shard) for shard in range(self.config.shards)]
                    self._pid = os.getpid()
                brokers = self._brokers
        return brokers

    @property
    def broker(self) -> Broker:
        """This process's shard's broker (see the class docstring)."""
        return self.brokers[self.home]

    def shard_of(self, queue: str) -> int:
        return self.shards.of(queue)

    def broker_for(self, queue: str) -> Broker:
        """The broker of the shard `queue` lives on."""
        return self.brokers[self.shards.of(queue)]

    def bind(self, shard: int) -> None:
        """Make `shard` this process's home: what a shard's worker does on its own goes there."""
        if not 0 <= shard < self.config.shards:
            raise ConfigurationError(f"shard {shard} does not exist: JOBS['SHARDS'] is {self.config.shards}")
        self.home = shard

    @property
    def outbox(self) -> OutboxStore | None:
        """The outbox's store, made on first use (the Django side's: no database touched until then)."""
        if self._outbox is None and self.outbox_store is not None:
            self._outbox = self.outbox_store()
        return self._outbox

    def after_commit(self, fn: Callable[[], None]) -> None:
        if self.on_commit is None:
            raise ConfigurationError("enqueue on commit needs Django's transactions: add 'jobs' to INSTALLED_APPS")
        self.on_commit(fn)


_loader: Callable[[], Config] = Config
_on_commit: Callable[[Callable[[], None]], None] | None = None
_wrap_coroutine: Callable[[Any], Any] | None = None
_history_store: Callable[[], HistoryStore] | None = None
_outbox_store: Callable[[], OutboxStore] | None = None
_current: App | None = None
_guard = threading.Lock()


def configure(loader: Callable[[], Config], on_commit: Callable[[Callable[[], None]], None] | None = None,
              wrap_coroutine: Callable[[Any], Any] | None = None,
              history_store: Callable[[], HistoryStore] | None = None,
              outbox_store: Callable[[], OutboxStore] | None = None) -> None:
    """Install where settings come from (they are read on first use), how to wait for a commit,
    what to wrap async tasks in, where the history is written, and the outbox."""
    global _loader, _current, _on_commit, _wrap_coroutine, _history_store, _outbox_store
    with _guard:
        _outbox_store = outbox_store
        _loader = loader
        _on_commit = on_commit
        _wrap_coroutine = wrap_coroutine
        _history_store = history_store
        _current = None


def current() -> App:
    app = _current
    if app is None:
        app = _build()
    return app


def _build() -> App:
    global _current
    with _guard:
        if _current is None:
            _current = App(_loader(), on_commit=_on_commit, wrap_coroutine=_wrap_coroutine,
                           history_store=_history_store, outbox_store=_outbox_store)
        return _current


def reset() -> None:
    """Forget the current setup (settings changed); the next use builds it again."""
    global _current
    with _guard:
        _current = None
