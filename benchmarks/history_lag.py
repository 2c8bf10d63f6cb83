"""How far behind the task history runs: tasks at a steady rate for a while, and for each one the time
from its end (date_done) until its row is in the database.

    python -m benchmarks.history_lag [--rate 1000] [--seconds 60]

A jobs worker (prefork, 2 processes, its recorder beside them) on a private Redis and a fresh SQLite
database, as the demo runs. A sender paces `delay()` calls at --rate; a watcher reads the new rows
every WATCH seconds, so each lag is measured to within that (it is an upper bound). Prints the lag's
percentiles, the largest backlog seen in Redis, and how many rows were missing at the end (0).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

from jobs.devserver import RedisServer

ROOT = Path(__file__).resolve().parent.parent
#: How often the watcher reads new rows (s): the resolution of the lags it reports.
WATCH = 0.1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=1000, help="tasks per second")
    parser.add_argument("--seconds", type=int, default=60)
    options = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="jobs-lag-")
    broker, counter = RedisServer().start(), RedisServer().start()
    env = {**os.environ, "BENCH_BROKER": broker.url, "BENCH_COUNTER": counter.url, "PYTHONPATH": str(ROOT),
           "BENCH_DB": os.path.join(tmp, "history.sqlite3"), "PYTHONUNBUFFERED": "1",
           "DJANGO_SETTINGS_MODULE": "benchmarks.systems.jobsbench.settings"}
    os.environ.update(env)
    worker = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "jobs", "-v", "0"], env=env, cwd=ROOT, check=True)
        worker = subprocess.Popen([sys.executable, "manage.py", "runworker", "-c", "2", "-l", "warning"], env=env,
                                  cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from benchmarks.systems.jobs_system import send  # Django set up with the same settings

        send(10)  # connections and the worker warmed up outside the measurement
        watcher = Watcher(env["BENCH_DB"], redis.Redis.from_url(broker.url))
        watcher.start()
        total = pace(send, options.rate, options.seconds) + 10
        deadline = time.monotonic() + 120
        while watcher.rows < total and time.monotonic() < deadline:
            time.sleep(WATCH)  # the watcher counts; this only waits for the tail to land
        watcher.stop()
        report(watcher, total, options)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        broker.cleanup()
        counter.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def pace(send, rate: int, seconds: int) -> int:
    """delay() calls at `rate` per second for `seconds`, in slices of 10 ms; returns how many."""
    start, sent = time.monotonic(), 0
    while (now := time.monotonic()) - start < seconds:
        due = int((now - start) * rate) - sent
        if due > 0:
            send(due)
            sent += due
        else:
            time.sleep(0.01)  # the sender's own pacing
    return sent


class Watcher(threading.Thread):
    """Reads the rows added since its last read, and the backlog in Redis, every WATCH seconds."""

    def __init__(self, path: str, broker: redis.Redis) -> None:
        super().__init__(daemon=True)
        self.db = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self.broker = broker
        self.lags: list[float] = []
        self.backlog = 0
        self.rows = 0
        self._last_id = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(WATCH):
            now = time.time()
            found = self.db.execute("SELECT id, date_done FROM jobs_taskresult WHERE id > ? ORDER BY id",
                                    (self._last_id,)).fetchall()
            for row_id, done in found:
                self._last_id = row_id
                self.lags.append(now - _timestamp(done))
            self.rows += len(found)
            self.backlog = max(self.backlog, self.broker.xlen("{bench}:history"))

    def stop(self) -> None:
        self._done.set()
        self.join()


def _timestamp(text: str) -> float:
    """A DateTimeField as SQLite stores it (UTC, 'YYYY-MM-DD HH:MM:SS.ffffff')."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp()


def report(watcher: Watcher, total: int, options: argparse.Namespace) -> None:
    lags = sorted(watcher.lags)

    def pct(p: float) -> float:
        return lags[min(len(lags) - 1, int(p / 100 * len(lags)))] if lags else float("nan")

    print(f"history lag at {options.rate}/s for {options.seconds} s ({total} tasks): rows {watcher.rows}, "
          f"missing {total - watcher.rows}")
    print("| lag from a task's end to its row | p50 | p95 | p99 | max | mean |")
    print("|---|---|---|---|---|---|")
    mean = statistics.mean(lags) if lags else float("nan")
    print(f"| seconds (to within {WATCH:g} s) | {pct(50):.2f} | {pct(95):.2f} | {pct(99):.2f} | "
          f"{lags[-1] if lags else float('nan'):.2f} | {mean:.2f} |")
    print(f"largest backlog in Redis: {watcher.backlog} outcomes")


if __name__ == "__main__":
    main()
