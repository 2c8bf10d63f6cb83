"""Run a script as `python SCRIPT ARGS` would, writing when each stage of a jobs worker's start is
reached: `python -m benchmarks.startup_trace manage.py runworker ...`. benchmarks/startup.py
--timeline runs workers this way; the start-up figures it compares with Huey come from workers run
without it.

Each stage is a line "pid stage time.time()" appended to $BENCH_TIMELINE (O_APPEND: the supervisor
and its consumers write to the same file without mixing lines). Stages are caught by wrapping
functions as their modules are first imported (a meta-path finder), so nothing is imported earlier
than the worker itself imports it and the figures keep their order.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import os
import runpy
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

_FD = os.open(os.environ["BENCH_TIMELINE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def mark(stage: str) -> None:
    os.write(_FD, f"{os.getpid()} {stage} {time.time():.6f}\n".encode())


def _wrap(owner: Any, name: str, before: str | None, after: str | None = None) -> None:
    original: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(original)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if before:
            mark(before)
        try:
            return original(*args, **kwargs)
        finally:
            if after:
                mark(after)

    setattr(owner, name, wrapped)


def _django(module: ModuleType) -> None:
    _wrap(module, "setup", "django.setup", "django ready")


def _apps(module: ModuleType) -> None:
    _wrap(module.Apps, "populate", "settings read; apps populate")


def _jobs_apps(module: ModuleType) -> None:
    _wrap(module.JobsConfig, "ready", "jobs ready()", "jobs ready() done")


def _command(module: ModuleType) -> None:
    mark("runworker loaded")
    _wrap(module.Command, "handle", "handle")
    _wrap(module, "check_redis_or_refuse", None, "Redis setup checked")


def _supervisor(module: ModuleType) -> None:
    _wrap(module.Supervisor, "__init__", "supervisor made")
    _wrap(module.Supervisor, "run", "supervisor run")
    _wrap(module.Supervisor, "_start", "fork consumer")


_ORIGINAL: dict[str, Any] = {}


def _pools(module: ModuleType) -> None:
    _ORIGINAL["die_with_parent"] = module.die_with_parent
    _wrap(module, "die_with_parent", "consumer: forked", "consumer: dies with its parent")


def _recorder(module: ModuleType) -> None:
    module.die_with_parent = _ORIGINAL["die_with_parent"]  # the consumers' stages only
    _wrap(module.RecorderProcess, "start", "fork recorder", "recorder forked")


def _consumer(module: ModuleType) -> None:
    _wrap(module.Consumer, "__init__", None, "consumer made")
    _wrap(module.Consumer, "run", "consumer run")


HOOKS: dict[str, Callable[[ModuleType], None]] = {
    "django": _django,
    "django.apps.registry": _apps,
    "jobs.apps": _jobs_apps,
    "jobs.management.commands.runworker": _command,
    "jobs.engine.worker.supervisor": _supervisor,
    "jobs.engine.worker.consumer": _consumer,
    "jobs.engine.worker.pools": _pools,
    "jobs.engine.worker.recorder_process": _recorder,
}


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader, hook: Callable[[ModuleType], None]) -> None:
        self.inner, self.hook = inner, hook

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        self.hook(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        hook = HOOKS.get(name)
        if hook is None:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            spec = finder.find_spec(name, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None and spec.loader is not None:
                spec.loader = _Loader(spec.loader, hook)
                return spec
        return None


def main() -> None:
    mark("interpreter up")
    sys.meta_path.insert(0, _Finder())
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
