"""Prometheus metrics, read from Redis at scrape time: every web process answers the same figures, and
none keeps state of its own (no multiprocess directory, no per-process counters to add up).

What is counted, and where: each settled run counts its outcome and puts its run time and its wait
(enqueue to start) into histogram buckets, in its process (Tally); the process's next fetch or ack
adds them to the all-time hash `{p}:stats` inside its script (lib/ack.lua `count`: no round trip of
its own, and one HINCRBY per distinct field and second rather than three a task); a message revoked
or expired at fetch is counted there directly (fetch.lua); a lease that ran out, by the supervisor
that hands its task back. The rest (queue lengths and latency, running, scheduled, dead letters,
workers, the beat leader) is read as it is.

The same batches feed what the console reads (monitor.py): per-minute and per-hour counters by task
({p}:minute:<m>, {p}:hour:<h>: outcomes, a finer run-time histogram, RUNTIME_BUCKETS) and each
worker's processed and failed counts. They cost a task nothing more in Redis: a batch holds a few
more fields a second.

The text format is written here (it is a few lines of text; the prometheus-client package would add
a dependency and its own registry for no gain). No worker-id labels: workers come and go.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

from ..redis.keys import Keys

#: Histogram bucket bounds, seconds (both histograms): from 5 ms no-ops to half-hour reports.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


#: The console's run-time histogram (per task and minute, keys.minute): 1, 1.5, 2, 3, 5 and 7 of each decade from
#: 1 ms to 700 s, then 1000 s, 30 min and 1 h; bucket i holds the runs up to RUNTIME_BUCKETS[i], the last one
#: those longer. Finer than BUCKETS (whose 60 s -> 300 s -> 30 min steps would put a p95 anywhere in minutes):
#: neighbours are at most 1.67x apart, like Sidekiq 7's 1.5x, and start at 1 ms rather than its 20 ms, as many
#: tasks here take a few ms. Only the buckets a task's runs fall in are stored.
RUNTIME_BUCKETS = (*(round(m * 10.0**e, 6) for e in range(-3, 3) for m in (1, 1.5, 2, 3, 5, 7)), 1000.0, 1800.0, 3600.0)

#: How long the console's counters are kept (ms): the minutes a day and an hour, the hours a week and a day. The
#: workers' own counts last as long as their record (broker.record_worker), renewed by every batch.
MINUTE_KEEP_MS = 25 * 3600 * 1000
HOUR_KEEP_MS = 8 * 24 * 3600 * 1000
WORKER_KEEP_MS = 3600 * 1000

#: A process's counts reach Redis at most this long after the outcome (riding on its next fetch).
FLUSH_SECONDS = 1.0


class Tally:
    """This process's counts not yet in Redis, added to by every settled run (execute.record) and
    taken by the broker's next fetch or ack, which adds them in the same script (lib/ack.lua count):
    no command of its own, and a handful of HINCRBY a second instead of several a task. A process
    killed with kill -9 loses what it had not flushed (at most about a second's); a call whose reply
    was lost loses its batch rather than risk counting it twice.

    A run costs its process a few dict updates: the Prometheus field, its (minute, task, queue,
    status, run bucket) and the run time of its (minute, task). Everything else (the minute and hour
    fields, totals, the worker's processed and failed) is summed from those when a batch is made.
    The minute is the one the outcome is recorded in by this process's clock (time.time()): hosts
    whose clocks differ put a run in their own minute, which is all a per-minute chart needs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        #: (task, queue, status, run bucket, wait bucket; -1: none) -> runs, named "c|..." by take().
        self._fields: dict[tuple[str, str, str, int, int], int] = {}
        self._ended: dict[tuple[int, str, str, str, int], int] = {}
        self._run_us: dict[tuple[int, str], int] = {}
        self._flushed = time.monotonic()
        #: The worker whose processed/failed counts this process feeds ('' outside a worker).
        self.worker = ""

    def add(self, task: str, queue: str, status: str, runtime: float | None, wait: float | None) -> None:
        minute = int(time.time() // 60)
        if runtime is None:
            rb, run_bucket = -1, -1
        else:
            rb, run_bucket = bisect.bisect_left(BUCKETS, runtime), bisect.bisect_left(RUNTIME_BUCKETS, runtime)
        wb = -1 if wait is None else bisect.bisect_left(BUCKETS, wait if wait > 0.0 else 0.0)
        # Kept by tuple, spelled as the Prometheus field once a batch (take): no string built a run.
        field = (task, queue, status, rb, wb)
        ended = (minute, task, queue, status, run_bucket)
        with self._lock:
            fields = self._fields
            fields[field] = fields.get(field, 0) + 1
            self._ended[ended] = self._ended.get(ended, 0) + 1
            if runtime is not None:
                key = (minute, task)
                self._run_us[key] = self._run_us.get(key, 0) + round(runtime * 1e6)
            if wait is not None:
                counts = self._counts
                name = "ws|" + task
                counts[name] = counts.get(name, 0) + round(max(0.0, wait) * 1e6)

    def revoked(self, task: str, queue: str) -> None:
        """A message a fetch marked REVOKED (fetch.lua counted it in {p}:stats itself): for the
        minute and hour counts, and the worker's."""
        ended = (int(time.time() // 60), task, queue, "REVOKED", -1)
        with self._lock:
            self._ended[ended] = self._ended.get(ended, 0) + 1

    def take(self, keys: Keys, force: bool = False) -> str:
        """The counts as lib/ack.lua's `count` takes them (batch()), and forgotten here: '' when
        there are none, or (unless `force`) when the last batch left less than FLUSH_SECONDS ago."""
        now = time.monotonic()
        if not self._ended or (not force and now - self._flushed < FLUSH_SECONDS):
            return ""
        with self._lock:
            counts, fields, ended, run_us = self._counts, self._fields, self._ended, self._run_us
            self._counts, self._fields, self._ended, self._run_us = {}, {}, {}, {}
            self._flushed = now
        for (task, queue, status, rb, wb), n in fields.items():
            name = f"c|{task}|{queue}|{status}|{'' if rb < 0 else rb}|{'' if wb < 0 else wb}"
            counts[name] = counts.get(name, 0) + n
        return batch(keys, counts, ended, run_us, self.worker)


def batch(keys: Keys, counts: dict[str, int], ended: dict[tuple[int, str, str, str, int], int],
          run_us: dict[tuple[int, str], int], worker: str) -> str:
    """One line a key, "key\tkeep ms\tfield\tn\tfield\tn...", keep 0 for no expiry: the key
    names are built by keys.py here, so the script adds to keys whose minute only this process knows
    without spelling one itself (names carry no tab or newline: names.check_name)."""
    groups: dict[str, dict[str, int]] = {keys.stats: dict(counts)}
    keep = {keys.stats: 0}

    def add(key: str, ms: int, field: str, n: int) -> None:
        group = groups.get(key)
        if group is None:
            group = groups[key] = {}
            keep[key] = ms
        group[field] = group.get(field, 0) + n

    for (minute, task), us in run_us.items():
        add(keys.stats, 0, "rs|" + task, us)
        add(keys.minute(minute), MINUTE_KEEP_MS, task + "|rs", us)
        add(keys.hour(minute // 60), HOUR_KEEP_MS, task + "|rs", us)
    for (minute, task, queue, status, bucket), n in ended.items():
        key = keys.minute(minute)
        add(key, MINUTE_KEEP_MS, f"{task}|{status}", n)
        add(key, MINUTE_KEEP_MS, "*|" + status, n)
        add(key, MINUTE_KEEP_MS, "*q|" + queue, n)
        if bucket >= 0:
            add(key, MINUTE_KEEP_MS, f"{task}|r{bucket}", n)
        # The hours keep a task's histogram too: the console's metrics over many hours read 24
        # hashes, not 1,440 (Monitor.task_metrics).
        hour = keys.hour(minute // 60)
        add(hour, HOUR_KEEP_MS, f"{task}|{status}", n)
        add(hour, HOUR_KEEP_MS, "*|" + status, n)
        if bucket >= 0:
            add(hour, HOUR_KEEP_MS, f"{task}|r{bucket}", n)
        if worker:
            counts_key = keys.worker_counts(worker)
            add(counts_key, WORKER_KEEP_MS, "processed", n)
            if status == "FAILURE":
                add(counts_key, WORKER_KEEP_MS, "failed", n)
    return "\n".join(f"{key}\t{keep[key]}\t" + "\t".join(f"{field}\t{n}" for field, n in group.items())
                     for key, group in groups.items() if group)


#: The counts of this process (each prefork consumer is a process of its own).
TALLY = Tally()


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
