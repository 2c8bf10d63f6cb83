"""What the outbox (JOBS["OUTBOX"]) costs: transactions that each insert a row and send a task, with
the task sent by `delay_on_commit` (after COMMIT, lost if the process dies then) and through the
outbox (a row of the same transaction, sent after COMMIT, relayed if the process dies then).

    python -m benchmarks.outbox [--database postgres://postgres@127.0.0.1:5432/jobs_bench_outbox]
                                [--transactions 2000]

On PostgreSQL (the database is created if missing, and its tables), a private Redis, and a jobs worker
(2 processes, the outbox's relay beside them). For each way: the rate of transactions one client
commits (each: BEGIN, an INSERT, the send, COMMIT, and for both ways the send after it; the best of
ROUNDS runs, the ways taking turns, before the worker starts: the sender's cost alone), and
the latency from the call to the task starting (an idle worker, one transaction every 20 ms: p50,
p99). The first row, a transaction with no task, is the floor both stand on.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jobs.devserver import RedisServer

ROOT = Path(__file__).resolve().parent.parent
WAYS = ("no task", "delay_on_commit", "outbox")
LATENCY_TASKS = 200
GAP = 0.02  # s between the latency run's transactions: an idle worker each time
WARM = 50
ROUNDS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/jobs_bench_outbox")
    parser.add_argument("--transactions", type=int, default=2000)
    parser.add_argument("--client", choices=("rates", "latency"), help=argparse.SUPPRESS)  # a process of its own
    options = parser.parse_args()
    if options.client:
        print("\n".join(client(options.client, options.transactions)))
        return
    try:
        _create_database(options.database)
    except Exception as exc:  # noqa: BLE001 - any reason there is no PostgreSQL to measure on
        print(f"outbox cost: skipped, no PostgreSQL at {options.database} ({type(exc).__name__}: {exc})")
        return
    broker, counter = RedisServer().start(), RedisServer().start()
    env = {**os.environ, "BENCH_BROKER": broker.url, "BENCH_COUNTER": counter.url, "PYTHONPATH": str(ROOT),
           "BENCH_DATABASE_URL": options.database, "BENCH_JOBS_HISTORY": "0", "BENCH_JOBS_OUTBOX": "1",
           "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "benchmarks.systems.jobsbench.settings"}
    worker = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "jobs", "-v", "0", "--skip-checks"], env=env, cwd=ROOT,
                       check=True)
        rates = _client("rates", options.transactions, env)  # no worker yet: the senders' own cost alone
        # One worker for the latency runs (its relay on: idle while the senders send everything themselves).
        worker = subprocess.Popen([sys.executable, "manage.py", "runworker", "-c", "2", "-l", "info"], env=env,
                                  cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert worker.stdout is not None
        for line in worker.stdout:  # its banner, then "ready."
            if line.rstrip().endswith("ready."):
                break
        threading.Thread(target=worker.stdout.read, daemon=True).start()  # the rest, read so it never blocks
        latencies = _client("latency", options.transactions, env)
        print(f"outbox cost on PostgreSQL, {options.transactions} transactions a way and round, one client, the "
              f"best of {ROUNDS} rounds:")
        print("| way | transactions/s | ms per transaction | start latency p50 | p99 |")
        print("|---|---|---|---|---|")
        for rate, latency in zip(rates, latencies, strict=True):
            print(f"{rate} {latency}")
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        broker.cleanup()
        counter.cleanup()


def _client(phase: str, n: int, env: dict[str, str]) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "benchmarks.outbox", "--client", phase, "--transactions", str(n)],
                         env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()


def client(phase: str, n: int) -> list[str]:
    """rates: the three ways in turns (so that the machine's other work weighs on each alike), with no
    worker running; latency: each way's latency run, on an idle worker. One cell pair per way."""
    from django.db import connection, transaction

    from benchmarks.systems import jobs_system  # noqa: F401 - sets Django up
    from benchmarks.systems.common import counter
    from benchmarks.systems.jobsbench.tasks import stamped, work

    ways: dict[str, dict[str, bool] | None] = {"no task": None, "delay_on_commit": {"on_commit": True},
                                                "outbox": {"outbox": True}}
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_order (id bigserial PRIMARY KEY, n integer)")

    def orders(count: int, options: dict[str, bool] | None, task: Any = work, gap: float = 0.0) -> float:
        start = time.perf_counter()
        for i in range(count):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("INSERT INTO bench_order (n) VALUES (%s)", [i])
                if options is not None:
                    task.apply_async((time.time(),) if task is stamped else (), **options)
            if gap:
                time.sleep(gap)  # the latency run's pace: an idle worker each time
        return time.perf_counter() - start

    done = counter()
    if phase == "rates":
        done.delete("done", "latency")
        for options in ways.values():
            orders(WARM, options)
        best = dict.fromkeys(ways, float("inf"))
        for _ in range(ROUNDS):
            for way, options in ways.items():
                best[way] = min(best[way], orders(n, options))
        return [f"| {way} | {n / best[way]:,.0f} | {best[way] / n * 1000:.2f} |" for way in ways]
    rows = []
    sent = (WARM + ROUNDS * n) * sum(options is not None for options in ways.values())
    deadline = time.monotonic() + 300
    for options in ways.values():
        if options is None:
            rows.append("– | – |")
            continue
        while int(done.get("done") or 0) < sent and time.monotonic() < deadline:
            time.sleep(0.05)  # the worker drains what was sent before: the latency run starts on an idle one
        done.delete("latency")
        orders(LATENCY_TASKS, options, stamped, GAP)
        sent += LATENCY_TASKS
        while done.llen("latency") < LATENCY_TASKS and time.monotonic() < deadline:
            time.sleep(0.05)
        lags = sorted(float(x) * 1000 for x in done.lrange("latency", 0, -1))
        p99 = lags[min(len(lags) - 1, int(0.99 * len(lags)))]
        rows.append(f"{statistics.median(lags):.2f} ms | {p99:.2f} ms |")
    return rows


def _create_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username or "postgres",
                         password=parts.password or "", dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


if __name__ == "__main__":
    main()
