"""The per-minute and per-hour counters every worker adds to (redis/tally.py), as the console's
figures: tasks ended well and badly a minute (an hour), and each task's outcomes, run time and
percentiles (minutes.py makes those from the hashes, without Redis). Part of the monitor
(monitor.Monitor), whose reads it shares; each figure is one round trip."""

from __future__ import annotations

import time

from ..redis.reads import Reads
from .merged_reads import AllReads
from .minutes import MinutePoint, TaskMetrics, by_task, point, task_fields

#: Task metrics over this many minutes or more are read from the hour hashes (whole hours).
HOURLY_FROM = 180

#: The fields of a counter hash (minutes.py) that say how many tasks ended well and badly.
OUTCOMES = ("*|SUCCESS", "*|FAILURE")


class CountersView:
    """Monitor's reads of the counters."""

    reads: Reads | AllReads

    def _window(self, minutes: int) -> list[int]:
        current = int(time.time() // 60)  # this host's clock, as the workers' counts use theirs (metrics.Tally)
        return list(range(current - minutes + 1, current + 1))

    def throughput(self, minutes: int = 60) -> list[tuple[float, int, int]]:
        """(minute start, unix s; tasks succeeded; failed) for each of the last `minutes`, oldest
        first, this one last (so far): one round trip."""
        window = self._window(minutes)
        rows = self.reads.counts(window, OUTCOMES)
        return [(m * 60.0, int(ok or 0), int(failed or 0)) for m, (ok, failed) in zip(window, rows, strict=True)]

    def throughput_hours(self, hours: int = 24) -> list[tuple[float, int, int]]:
        """As throughput(), an hour a row (kept 8 days): one round trip."""
        current = int(time.time() // 3600)
        window = list(range(current - hours + 1, current + 1))
        rows = self.reads.counts(window, OUTCOMES, hourly=True)
        return [(h * 3600.0, int(ok or 0), int(failed or 0)) for h, (ok, failed) in zip(window, rows, strict=True)]

    def task_metrics(self, minutes: int = 60) -> list[TaskMetrics]:
        """Each task's outcomes, run time and percentiles over the last `minutes`, the most run time
        first (minutes.py): one round trip, every task's fields of every minute. Past HOURLY_FROM
        minutes, by whole hours (this one so far included): the hour hashes hold the same fields,
        and 24 of them are read much faster than 1,440 minutes."""
        if minutes >= HOURLY_FROM:
            current = int(time.time() // 3600)
            return by_task(self.reads.tallies(range(current - -(-minutes // 60) + 1, current + 1), hourly=True))
        return by_task(self.reads.tallies(self._window(minutes)))

    def task_timeline(self, task: str, minutes: int = 60) -> list[MinutePoint]:
        """One task minute by minute, oldest first: outcomes, p50, p95, and the run-time histogram
        (metrics.RUNTIME_BUCKETS) for a heat map: one round trip, that task's fields only."""
        window = self._window(minutes)
        rows = self.reads.counts(window, task_fields(task))
        return [point(m * 60.0, row) for m, row in zip(window, rows, strict=True)]
