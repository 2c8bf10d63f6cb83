"""Where a jobs worker spends its time while it drains: py-spy samples one consumer process.

    python -m benchmarks.profile [--prefetch N]      # writes results/profile-drain.svg, prints a summary

The summary counts samples by function, inclusive (a function and what it calls), over the wall
time of the process: waiting on a socket shows as time in the function that waits.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import redis

from jobs.devserver import RedisServer

ROOT = Path(__file__).resolve().parent.parent
PY_SPY = Path(sys.executable).parent / "py-spy"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prefetch", default="", help="WORKER_PREFETCH (default: jobs' own)")
    parser.add_argument("--seconds", type=int, default=5)
    options = parser.parse_args()
    broker, counter = RedisServer().start(), RedisServer().start()
    env = {**os.environ, "BENCH_BROKER": broker.url, "BENCH_COUNTER": counter.url, "PYTHONPATH": str(ROOT),
           "BENCH_JOBS_PREFETCH": options.prefetch, "BENCH_JOBS_HISTORY": "0",  # its only children: consumers
           "DJANGO_SETTINGS_MODULE": "benchmarks.systems.jobsbench.settings"}
    results = ROOT / "benchmarks" / "results"
    try:
        subprocess.run([sys.executable, "-m", "benchmarks.client", "jobs", "bulk", "200000"], env=env, cwd=ROOT,
                       check=True, capture_output=True)
        worker = subprocess.Popen([sys.executable, "manage.py", "runworker", "-c", "2", "-l", "warning"], env=env,
                                  cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        done = redis.Redis.from_url(counter.url)
        while int(done.get("done") or 0) < 2000:
            time.sleep(0.01)  # waiting for the drain to be under way
        child = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()[0]
        raw = Path(tempfile.mkdtemp()) / "samples.txt"
        for fmt, out in (("raw", raw), ("flamegraph", results / "profile-drain.svg")):
            subprocess.run([str(PY_SPY), "record", "-p", child, "-d", str(options.seconds), "-r", "400", "-f", fmt,
                            "-o", str(out), "--nonblocking"], check=True, capture_output=True)
        worker.terminate()
        worker.wait(30)
    finally:
        broker.cleanup()
        counter.cleanup()
    summary(raw)
    print(f"\nflame graph: {results / 'profile-drain.svg'}")


def summary(raw: Path, top: int = 25) -> None:
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():  # not a sample: py-spy notes between them
            continue
        total += int(count)
        seen = set()
        for frame in stack.split(";"):
            name = frame.split(" (")[0]
            if name not in seen:
                inclusive[name] += int(count)
                seen.add(name)
    print(f"{total} samples of one consumer process; inclusive share of wall time:")
    for name, count in inclusive.most_common(top):
        if count / total < 0.9:  # above: the worker's own loop, present in every sample
            print(f"  {count / total:6.1%}  {name}")


if __name__ == "__main__":
    main()
