"""This process's counts, on their way to Redis: what every settled run adds (settle.record), taken
by the broker's next fetch or ack and added inside its script (lib/ack.lua `count`), with no round
trip of its own. ops/metrics.py reads what they add up to (Prometheus), ops/minutes.py the console's
per-minute figures.
"""

from __future__ import annotations

import bisect
import threading
import time

from .keys import Keys

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
    """This process's counts not yet in Redis, added to by every settled run (settle.record) and
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

