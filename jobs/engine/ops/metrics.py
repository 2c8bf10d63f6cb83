"""Prometheus metrics, read from Redis at scrape time: every web process answers the same figures, and
none keeps state of its own (no multiprocess directory, no per-process counters to add up).

What is counted, and where: each settled run counts its outcome and puts its run time and its wait
(enqueue to start) into histogram buckets, in its process (Tally); the process's next fetch or ack
adds them to the all-time hash `{p}:stats` inside its script (lib/ack.lua `count`: no round trip of
its own, and one HINCRBY per distinct field and second rather than three a task); a message revoked
or expired at fetch is counted there directly (fetch.lua); a lease that ran out, by the supervisor
that hands its task back. The rest (queue lengths and latency, running, scheduled, dead letters,
workers, the beat leader, the concurrency slots in use) is read as it is.

The same batches feed what the console reads (monitor.py): per-minute and per-hour counters by task
({p}:minute:<m>, {p}:hour:<h>: outcomes, a finer run-time histogram, RUNTIME_BUCKETS) and each
worker's processed and failed counts. They cost a task nothing more in Redis: a batch holds a few
more fields a second.

The text format is written here (it is a few lines of text; the prometheus-client package would add
a dependency and its own registry for no gain). No worker-id labels: workers come and go.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from ..redis.tally import BUCKETS
from ..wire.outgoing import Backlog


@dataclass
class Snapshot:
    """What a scrape reads (monitor.Monitor.metrics): one consistent look, taken in a few round trips."""

    stats: dict[str, str] = field(default_factory=dict)
    queues: dict[str, int] = field(default_factory=dict)
    #: Queue -> age (s) of the message next in line (its enqueue time, on Redis's clock).
    latency: dict[str, float] = field(default_factory=dict)
    #: Paused queue -> since (unix time, s): no worker takes from it (pause.lua).
    paused: dict[str, float] = field(default_factory=dict)
    scheduled: int = 0
    running: int = 0
    dead: int = 0
    workers_alive: int = 0
    beat_leader: bool = False
    #: Concurrency slot (task, or task:key) -> (runs holding one now, its limit), those taken lately.
    slots: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: The outbox (JOBS["OUTBOX"]), read from the database by the Django side, and when (unix time).
    outbox: Backlog | None = None
    now: float = 0.0


def _labels(**labels: str) -> str:
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())
    return "{" + inner + "}" if inner else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def exposition(s: Snapshot) -> str:
    """The Prometheus text format (version 0.0.4)."""
    out: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")

    family("jobs_queue_length", "gauge", "Messages waiting on a queue.")
    out += [f"jobs_queue_length{_labels(queue=q)} {n}" for q, n in sorted(s.queues.items())]
    family("jobs_queue_latency_seconds", "gauge", "Age of the message next in line on a queue (0 when empty).")
    out += [f"jobs_queue_latency_seconds{_labels(queue=q)} {_number(round(s.latency.get(q, 0.0), 3))}"
            for q in sorted(s.queues)]
    family("jobs_queue_paused", "gauge", "1 while a queue is paused (no worker takes from it), else 0.")
    out += [f"jobs_queue_paused{_labels(queue=q)} {int(q in s.paused)}" for q in sorted(s.queues)]
    for name, value, text in (("jobs_scheduled", s.scheduled, "Messages waiting for their time (countdown, ETA, "
                                                               "retry)."),
                              ("jobs_running", s.running, "Messages held by workers (running or about to)."),
                              ("jobs_dead_letters", s.dead, "Messages in the dead letters."),
                              ("jobs_workers_alive", s.workers_alive, "Workers with a recent heartbeat."),
                              ("jobs_beat_leader", int(s.beat_leader), "1 if a beat leads (sends periodic tasks).")):
        family(name, "gauge", text)
        out.append(f"{name} {value}")
    family("jobs_concurrency_in_use", "gauge", "Runs holding a slot of a concurrency limit (task, or task:key).")
    out += [f"jobs_concurrency_in_use{_labels(slot=name)} {used}" for name, (used, _) in sorted(s.slots.items())]
    family("jobs_concurrency_limit", "gauge", "The most runs at once a concurrency limit allows.")
    out += [f"jobs_concurrency_limit{_labels(slot=name)} {limit}" for name, (_, limit) in sorted(s.slots.items())]
    outcomes, runtime, wait = _parse(s.stats)
    family("jobs_tasks_total", "counter", "Tasks ended, by task, queue and outcome (SUCCESS, FAILURE, RETRY, "
                                          "REVOKED).")
    out += [f"jobs_tasks_total{_labels(task=t, queue=q, outcome=o)} {n}" for (t, q, o), n in sorted(outcomes.items())]
    for name, data, text in (("jobs_task_runtime_seconds", runtime, "How long runs took, by task."),
                             ("jobs_task_wait_seconds", wait, "How long tasks waited from enqueue to start, by task.")):
        family(name, "histogram", text)
        for task, (counts, total) in sorted(data.items()):
            cumulative = 0
            for i, bound in enumerate((*BUCKETS, math.inf)):
                cumulative += counts.get(i, 0)
                out.append(f"{name}_bucket{_labels(task=task, le=_number(bound))} {cumulative}")
            out.append(f"{name}_sum{_labels(task=task)} {_number(round(total, 6))}")
            out.append(f"{name}_count{_labels(task=task)} {cumulative}")
    family("jobs_redeliveries_total", "counter", "Deliveries whose lease ran out (a worker died or froze); their "
                                                 "tasks went back to their queues.")
    out.append(f"jobs_redeliveries_total {int(s.stats.get('redeliveries', 0))}")
    family("jobs_bad_signatures_total", "counter", "Messages moved to the dead letters unread because no key of "
                                                   "SIGNING_KEYS signed them (bad-signature).")
    out.append(f"jobs_bad_signatures_total {int(s.stats.get('bad_signatures', 0))}")
    if s.outbox is not None:
        age = 0.0 if s.outbox.oldest is None else max(0.0, s.now - s.outbox.oldest)
        for name, number, text in (
                ("jobs_outbox_backlog", s.outbox.waiting, "Messages in the outbox: committed (or not yet) and not "
                                                          "in Redis yet."),
                ("jobs_outbox_oldest_seconds", round(age, 3), "Age of the oldest message in the outbox (0 when "
                                                              "empty): a relay sends what is over a few seconds old."),
                ("jobs_outbox_dead", s.outbox.dead, "Outbox rows set aside: Redis refused them and their burial.")):
            family(name, "gauge", text)
            out.append(f"{name} {_number(number)}")
    return "\n".join(out) + "\n"


Histograms = dict[str, tuple[dict[int, int], float]]


def _parse(stats: dict[str, str]) -> tuple[dict[tuple[str, str, str], int], Histograms, Histograms]:
    outcomes: dict[tuple[str, str, str], int] = defaultdict(int)
    buckets: dict[str, dict[str, dict[int, int]]] = {"r": defaultdict(dict), "w": defaultdict(dict)}
    sums: dict[str, dict[str, float]] = {"r": {}, "w": {}}
    for key, value in stats.items():
        kind, _, rest = key.partition("|")
        if kind == "c":  # c|task|queue|outcome|run-time bucket|wait bucket
            task, queue, outcome, rb, wb = rest.split("|")
            n = int(value)
            outcomes[(task, queue, outcome)] += n
            for which, index in (("r", rb), ("w", wb)):
                if index:
                    counts = buckets[which][task]
                    counts[int(index)] = counts.get(int(index), 0) + n
        elif kind in ("rs", "ws"):
            sums[kind[0]][rest] = int(value) / 1e6  # kept in microseconds
    runtime = {task: (counts, sums["r"].get(task, 0.0)) for task, counts in buckets["r"].items()}
    wait = {task: (counts, sums["w"].get(task, 0.0)) for task, counts in buckets["w"].items()}
    return dict(outcomes), runtime, wait
