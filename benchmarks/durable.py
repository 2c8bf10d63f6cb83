"""What JOBS["ENQUEUE_REPLICAS"] costs a sender: delay() against a master with one replica (both
private redis-servers on loopback), with the setting at 0 and at 1, alternated, medians of REPS.

    python -m benchmarks.durable [--sends 3000] [--reps 3]

With 1, each send's script and a `WAIT 1` go in one write (redis/replicas.py): the price is the
replication's own time (the master sending the write to the replica and its acknowledgement, which
Redis reads on its next event loop turn), not another round trip from the sender.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import redis

from jobs.devserver import find_binary, free_port


def server(*args: str) -> tuple[subprocess.Popen[bytes], int, str]:
    port, directory = free_port(), tempfile.mkdtemp(prefix="jobs-bench-")
    process = subprocess.Popen([find_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", directory, *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:  # start-up has no event to await but the port answering
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    return process, port, directory


def run(sends: int, replicas: int, url: str) -> float:
    """Sends per second of one process calling delay() in a loop."""
    env = {**os.environ, "BENCH_BROKER": url, "BENCH_JOBS_HISTORY": "0", "BENCH_REPLICAS": str(replicas),
           "DJANGO_SETTINGS_MODULE": "benchmarks.systems.jobsbench.settings"}
    code = ("import os, time, django; django.setup()\n"
            "from django.test import override_settings\n"
            "from benchmarks.systems.jobsbench.tasks import work\n"
            "from django.conf import settings\n"
            "jobs = {**settings.JOBS, 'ENQUEUE_REPLICAS': int(os.environ['BENCH_REPLICAS'])}\n"
            "with override_settings(JOBS=jobs):\n"
            "    for _ in range(200): work.delay('', 0.0)\n"
            f"    start = time.perf_counter()\n"
            f"    for _ in range({sends}): work.delay('', 0.0)\n"
            f"    print({sends} / (time.perf_counter() - start))\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=3000)
    parser.add_argument("--reps", type=int, default=3)
    options = parser.parse_args()
    master, port, master_dir = server()
    replica, _, replica_dir = server("--replicaof", "127.0.0.1", str(port))
    try:
        link = redis.Redis(port=port)
        deadline = time.monotonic() + 30
        while link.info("replication").get("connected_slaves", 0) < 1:  # the replica in sync: no event to await
            if time.monotonic() > deadline:
                raise SystemExit("the replica did not connect")
            time.sleep(0.05)
        rates: dict[int, list[float]] = {0: [], 1: []}
        for _ in range(options.reps):
            for replicas in (0, 1):
                link.flushall()
                rates[replicas].append(run(options.sends, replicas, f"redis://127.0.0.1:{port}/0"))
        zero, one = statistics.median(rates[0]), statistics.median(rates[1])
        print(f"delay() from one process, a master and one replica on loopback, medians of {options.reps}:")
        print(f"  ENQUEUE_REPLICAS = 0: {zero:8.0f} sends/s  ({1e6 / zero:6.0f} µs a send)")
        print(f"  ENQUEUE_REPLICAS = 1: {one:8.0f} sends/s  ({1e6 / one:6.0f} µs a send, "
              f"+{1e6 / one - 1e6 / zero:.0f} µs)")
    finally:
        for process in (replica, master):
            process.terminate()
            process.wait(10)
        shutil.rmtree(master_dir, ignore_errors=True)
        shutil.rmtree(replica_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
