"""The time from starting a worker to its first task, jobs against Huey, started both ways Huey can be:

    python -m benchmarks.startup [--reps 15] [--timeline]

`make bench`'s first-task workload (benchmarks/run.py) measures one row each with 3 repetitions; this
runs more, since one start is a few tenths of a second on a shared machine, and prints the median with
the spread (min, max). As there: one task waits, the worker's command starts (2 processes), and the
task itself records when it started.

Rows: jobs (`manage.py runworker`, the defaults: history on, so its recorder starts too); jobs with no
history; Huey's consumer (`huey_consumer`, no Django: the row `make bench` compares); Huey under
Django (`manage.py run_huey`, huey.contrib.djhuey: a Django project's Huey worker, as jobs always is).

--timeline also runs jobs through benchmarks/startup_trace.py and prints, for each stage of its start,
the median time since the command was started: the interpreter up, Django's setup (settings, apps and
models, jobs' ready()), the command loaded, Redis's setup checked, the supervisor running, each
consumer forked and fetching, the first task running. Results go to results/startup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from typing import Any

from benchmarks.run import ROOT, Bench

MANAGE = str(ROOT / "manage.py")
#: label -> (client system, extra environment, worker command); --rows takes the label's first word.
ROWS: dict[str, tuple[str, dict[str, str], list[str]]] = {
    "jobs": ("jobs", {}, [sys.executable, MANAGE, "runworker", "-P", "prefork", "-c", "2", "-l", "warning"]),
    "jobs-nohistory: jobs, no history": ("jobs", {"BENCH_JOBS_HISTORY": "0"},
                         [sys.executable, MANAGE, "runworker", "-P", "prefork", "-c", "2", "-l", "warning"]),
    "huey: huey_consumer, no Django": (
        "huey", {}, [sys.executable, "-m", "huey.bin.huey_consumer", "benchmarks.systems.huey_system.huey",
                     "-k", "process", "-w", "2", "-q"]),
    "huey-django: run_huey, under Django": (
        "huey", {"DJANGO_SETTINGS_MODULE": "benchmarks.systems.hueydjango.settings"},
        [sys.executable, MANAGE, "run_huey", "-k", "process", "-w", "2", "-q"]),
}


def first_task(bench: Bench, system: str, extra: dict[str, str], command: list[str]) -> float:
    bench.reset()
    bench.client(system, extra, "one", 1)
    started = time.time()
    worker = subprocess.Popen(command, cwd=ROOT, env=bench.env(extra), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        bench.wait_count(1, 60)
        return float(bench.counter.lindex("starts", 0)) - started
    finally:
        bench.stop(worker)


def timeline(bench: Bench, reps: int) -> dict[str, float]:
    """Median seconds from the command's start to each stage of a jobs worker's start (startup_trace.py).
    A stage reached by each consumer counts at its first."""
    system, extra, command = ROWS["jobs"]
    stages: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(reps):
            path = os.path.join(tmp, f"{rep}.txt")
            traced = [command[0], "-m", "benchmarks.startup_trace", *command[1:]]
            bench.reset()
            bench.client(system, extra, "one", 1)
            started = time.time()
            worker = subprocess.Popen(traced, cwd=ROOT, env={**bench.env(extra), "BENCH_TIMELINE": path},
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            try:
                bench.wait_count(1, 60)
                task = float(bench.counter.lindex("starts", 0))
            finally:
                bench.stop(worker)
            first: dict[str, float] = {}
            with open(path) as lines:
                for line in lines:
                    _, rest = line.split(" ", 1)
                    stage, when = rest.rsplit(" ", 1)
                    first.setdefault(stage, float(when))
            first["first task running"] = task
            for stage, when in first.items():
                stages[stage].append(when - started)
    return dict(sorted(((stage, statistics.median(times)) for stage, times in stages.items()), key=lambda kv: kv[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--rows", default="jobs,jobs-nohistory,huey,huey-django", help="some rows only")
    parser.add_argument("--timeline", action="store_true", help="also the stages of a jobs worker's start")
    options = parser.parse_args()
    bench = Bench(target=1.0, reps=options.reps)
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "reps": options.reps, "rows": {}}
    try:
        from benchmarks.systems import jobs_system

        jobs_system.prepare()  # the history's table, as make bench makes it
        wanted = options.rows.split(",")
        # Interleaved, one start of each row in turn: the machine's load drifts, and then it drifts for all.
        times: dict[str, list[float]] = {label: [] for label in ROWS if label.split(":")[0] in wanted}
        for _ in range(options.reps):
            for label in times:
                system, extra, command = ROWS[label]
                times[label].append(first_task(bench, system, extra, command))
        print(f"{'worker start to first task (s)':<40} {'median':>7} {'min':>7} {'max':>7}   (n={options.reps})")
        for label, runs in times.items():
            row = {"median": statistics.median(runs), "min": min(runs), "max": max(runs), "runs": runs}
            results["rows"][label] = row
            print(f"{label:<40} {row['median']:7.3f} {row['min']:7.3f} {row['max']:7.3f}")
        if options.timeline:
            stages = timeline(bench, options.reps)
            results["timeline"] = stages
            print("\njobs: stage of the start (traced)            s since the command started (median)")
            for stage, when in stages.items():
                print(f"  {stage:<44} {when:7.3f}")
    finally:
        bench.close()
    out = ROOT / "benchmarks" / "results" / "startup.json"
    out.write_text(json.dumps(results, indent=1, default=lambda x: round(x, 4)) + "\n")


if __name__ == "__main__":
    main()
