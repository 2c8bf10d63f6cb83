"""The console's figures, made from the per-minute and per-hour counters (keys.minute, keys.hour) that
every worker process adds to with its batches (metrics.Tally, lib/ack.lua count). monitor.py reads the
hashes; what follows turns them into rows, so what a figure means can be tested without Redis.

A minute hash holds, per task, `<task>|<STATUS>` counts, `<task>|r<i>` counts of runs in bucket i of
metrics.RUNTIME_BUCKETS and `<task>|rs`, their summed run time in microseconds; and over all tasks,
`*|<STATUS>` and `*q|<queue>` (tasks ended per queue). Names cannot hold '|' or '*'
(names.check_name), so a field is read back without ambiguity.

Percentiles come from the histogram the way Prometheus' histogram_quantile makes them: linear inside
the bucket the rank falls in, from 0 in the first bucket; a rank among runs longer than the last bound
is given as that bound. Neighbouring bounds are at most 1.67x apart, so a percentile is off by less
than the width of its bucket.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..redis.tally import RUNTIME_BUCKETS

SUCCESS, FAILURE, RETRY, REVOKED = "SUCCESS", "FAILURE", "RETRY", "REVOKED"


@dataclass(frozen=True)
class TaskMetrics:
    """One task over a window of minutes. Run times in seconds; None when nothing ran."""

    task: str
    succeeded: int
    failed: int
    retried: int
    revoked: int
    runs: int  # runs with a run time (every outcome but a message revoked before it started)
    runtime: float  # their total
    mean: float | None
    p50: float | None
    p95: float | None
    p99: float | None


@dataclass(frozen=True)
class MinutePoint:
    """One minute of one task: its outcomes, its p50 and p95, and how many runs fell in each bucket of
    metrics.RUNTIME_BUCKETS (the last: longer than the last bound), for a heat map."""

    start: float  # unix s
    succeeded: int
    failed: int
    retried: int
    p50: float | None
    p95: float | None
    histogram: tuple[int, ...]


def percentile(counts: Sequence[int], q: float, bounds: Sequence[float] = RUNTIME_BUCKETS) -> float | None:
    """The q-quantile (0..1) of runs counted by bucket (len(bounds) + 1 counts), or None if none."""
    total = sum(counts)
    if not total:
        return None
    rank, seen = q * total, 0
    for i, n in enumerate(counts):
        if n and seen + n >= rank:
            if i >= len(bounds):
                return float(bounds[-1])
            low = bounds[i - 1] if i else 0.0
            return low + (bounds[i] - low) * max(0.0, rank - seen) / n
        seen += n
    return float(bounds[-1])


def task_fields(task: str) -> list[str]:
    """The fields of one task in a minute hash that a timeline point reads, in MinutePoint's order."""
    return [f"{task}|{SUCCESS}", f"{task}|{FAILURE}", f"{task}|{RETRY}",
            *(f"{task}|r{i}" for i in range(len(RUNTIME_BUCKETS) + 1))]


def point(start: float, values: Sequence[bytes | str | None]) -> MinutePoint:
    """A minute of a task from the values of task_fields(), as HMGET returns them."""
    numbers = [int(v) if v else 0 for v in values]
    histogram = tuple(numbers[3:])
    return MinutePoint(start, numbers[0], numbers[1], numbers[2], percentile(histogram, 0.5),
                       percentile(histogram, 0.95), histogram)


def by_task(hashes: Iterable[Mapping[bytes, bytes]]) -> list[TaskMetrics]:
    """Each task's figures summed over minute hashes (HGETALL replies), the most run time first."""
    counts: dict[str, dict[str, int]] = {}
    histograms: dict[str, list[int]] = {}
    for fields in hashes:
        for raw, value in fields.items():
            name = raw.decode()
            if name.startswith("*"):
                continue  # totals over all tasks, by status or by queue
            task, _, what = name.rpartition("|")
            n = int(value)
            if what.startswith("r") and what[1:].isdigit():
                histogram = histograms.setdefault(task, [0] * (len(RUNTIME_BUCKETS) + 1))
                index = min(int(what[1:]), len(RUNTIME_BUCKETS))
                histogram[index] += n
            else:
                of_task = counts.setdefault(task, {})
                of_task[what] = of_task.get(what, 0) + n
    out = []
    for task in sorted(set(counts) | set(histograms)):
        c = counts.get(task, {})
        histogram = histograms.get(task, [])
        runs, runtime = sum(histogram), c.get("rs", 0) / 1e6
        out.append(TaskMetrics(task, c.get(SUCCESS, 0), c.get(FAILURE, 0), c.get(RETRY, 0), c.get(REVOKED, 0), runs,
                               runtime, runtime / runs if runs else None, percentile(histogram, 0.5),
                               percentile(histogram, 0.95), percentile(histogram, 0.99)))
    return sorted(out, key=lambda m: (-m.runtime, m.task))
