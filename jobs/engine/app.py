"""The current jobs setup of this process: settings, task registry, broker, hooks.

Tasks are declared at import time with no app object (like Celery's shared_task), and settings are
only read when first needed: importing a tasks module must not require Redis or even settings. The
Django layer installs a loader (jobs/conf.py) and calls reset() when settings change in tests. A
forked child gets its own broker connections: sockets are never shared across processes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from .broker import Broker
from .config import Config
from .keys import Keys
from .registry import Registry, registry


class Hooks:
    """Points where an integration (the Django layer, a test) plugs in without the engine knowing it.
    Each is a list of callables; a failing hook is logged by the caller and changes nothing else."""

    def __init__(self) -> None:
        self.before_fork: list[Callable[[], Any]] = []
        self.child_started: list[Callable[[], Any]] = []
        self.before_task: list[Callable[..., Any]] = []
        self.after_task: list[Callable[..., Any]] = []


hooks = Hooks()


class App:
    def __init__(self, config: Config, tasks: Registry | None = None) -> None:
        self.config = config
        self.registry = tasks if tasks is not None else registry
        self.keys = Keys(config.key_prefix)
        self.hooks = hooks
        self._broker: Broker | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()

    @property
    def broker(self) -> Broker:
        broker = self._broker
        if broker is None or self._pid != os.getpid():
            with self._lock:
                if self._broker is None or self._pid != os.getpid():
                    self._broker = Broker(self.config)
                    self._pid = os.getpid()
                broker = self._broker
        return broker


_loader: Callable[[], Config] = Config
_current: App | None = None
_guard = threading.Lock()


def configure(loader: Callable[[], Config]) -> None:
    """Install where settings come from; they are read on first use."""
    global _loader, _current
    with _guard:
        _loader = loader
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
            _current = App(_loader())
        return _current


def reset() -> None:
    """Forget the current setup (settings changed); the next use builds it again."""
    global _current
    with _guard:
        _current = None
