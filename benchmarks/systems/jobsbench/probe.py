"""The idle-latency benchmark's probe (benchmarks/idle_latency.py --probe), installed in a worker when
$BENCH_IDLE_PROBE is 1: it notes when each consumer's blocking wait returned a handed-over message,
the steps between that and the task's body, and when the garbage collector last ran, so the task
can split its wait. A measurement only: it wraps a few of the worker's functions."""

from __future__ import annotations

import functools
import gc
import os
import threading
import time
from typing import Any

local = threading.local()
gc_started: list[float] = [0.0]
#: (label, module, owner, attribute) of the steps stamped as they begin, in the order they run.
STEPS = [
    ("take_done", "jobs.engine.worker.intake", "Intake", "take"),
    ("run_next", "jobs.engine.worker.consumer", "Consumer", "_run_next"),
    ("prepare", "jobs.engine.worker.delivery", "DeliveryHandler", "prepare"),
    ("execute", "jobs.engine.worker.delivery", None, "execute"),
]


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        gc_started[0] = time.time()


def _stamp(label: str, fn: Any, after: bool = False) -> Any:
    @functools.wraps(fn)
    def stamped(*args: Any, **kwargs: Any) -> Any:
        if not after:
            local.stamps.append((label, time.time()))
        out = fn(*args, **kwargs)
        if after:
            local.stamps.append((label, time.time()))
        return out

    return stamped


def install() -> None:
    import importlib

    from jobs.engine.redis.deliveries import Deliveries

    wait = Deliveries.wait

    def timed_wait(self: Deliveries, *args: Any, **kwargs: Any) -> Any:
        popped = wait(self, *args, **kwargs)
        local.woke = time.time()
        local.handed = popped is not None and b":inbox:" in popped[0]
        local.stamps = []
        return popped

    Deliveries.wait = timed_wait  # type: ignore[method-assign]
    local.stamps = []
    for label, module, owner, attribute in STEPS:
        target = importlib.import_module(module)
        holder = getattr(target, owner) if owner else target
        setattr(holder, attribute, _stamp(label, getattr(holder, attribute), after=label == "take_done"))
    gc.callbacks.append(_on_gc)


def split(sent: float, started: float) -> dict[str, Any]:
    woke = getattr(local, "woke", 0.0)
    row: dict[str, Any] = {"gc": woke <= gc_started[0] <= started, "consumer": f"{os.getpid()}.{threading.get_ident()}"}
    if getattr(local, "handed", False) and sent <= woke <= started:
        row["send"], row["consume"] = woke - sent, started - woke
        last = woke
        for label, at in getattr(local, "stamps", []):
            row.setdefault("steps", {})[label] = at - last
            last = at
        row.setdefault("steps", {})["body"] = started - last
    local.handed = False
    local.stamps = []
    return row
