"""Where a jobs worker's CPU goes per task, stage by stage, for each pool: py-spy samples every process
of a worker while it drains no-op tasks with the defaults (history on).

    python -m benchmarks.profile [--pools prefork,threads] [--seconds 5] [--no-history]

For each pool the worker drains pre-enqueued tasks; over a window of --seconds, /proc gives each of
its processes' CPU seconds and the counter Redis the tasks done, and py-spy (all processes, idle
threads left out) gives where each process was. A process's CPU is shared among the stages in the
proportion of its samples, so a stage's figure is CPU microseconds per task, summed over the
supervisor, the consumers and the history's recorder. The samples' stacks are kept
(results/profile-<pool>.txt, collapsed stacks: speedscope or inferno draw them); the table goes to
stdout and to results/stages.json, and docs/performance.md quotes it.

A sample's stage is decided by its innermost frame that STAGES names (see there); a sample inside
the task's own function is `run`. Waiting that py-spy cannot tell from work (a socket read done in
Python) is counted in the stage that waited, and /proc's CPU figure caps the total.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import redis

from benchmarks.measure import cpu_seconds, descendants
from jobs.devserver import RedisServer

ROOT = Path(__file__).resolve().parent.parent
PY_SPY = Path(sys.executable).parent / "py-spy"
RESULTS = ROOT / "benchmarks" / "results"

#: (stage, pattern over one frame "function (path:line)"), tried in this order on each frame from
#: the innermost outwards; the first frame that matches one decides the sample. Frames no pattern
#: names (the Redis link, the serializers, the redactor, Django, the standard library) are passed
#: through to their caller, so a JSON dump belongs to whoever asked for it.
STAGES: list[tuple[str, re.Pattern[str]]] = [
    ("history", re.compile(r"/recorder|jobs/stores/|ops/records|history")),
    ("bookkeeping", re.compile(r"worker/(board|supervisor|shutdown|watch|heartbeat|giveback)"
                               r"|redis/(tally|leases|workers)|jobs/(signals|apps)\.py|jobs/engine/(tracing|logs)\.py|setup/app\.py")),
    ("result/ack", re.compile(r"(?<![a-z])ack|_settle|settle_|wire/outcome|end_held|\._send \(|\._flush \(")),
    ("fetch/decode", re.compile(r"fetch|(?<![a-z])decode|\._take \(|wire/(header|envelope|message|arguments)"
                                r"|redis/deliveries|intake|buffer")),
    ("dispatch", re.compile(r"execution/|worker/(delivery|pools|threads|prepare)|setup/definition|wire/request")),
]
#: The frame that calls the task's own function: what runs inside it is the `run` stage.
TASK_CALL = re.compile(r"^TaskDefinition\.run \(jobs/")
ORDER = ["fetch/decode", "dispatch", "run", "result/ack", "history", "bookkeeping", "other"]


def stage_of(frames: list[str]) -> str:
    for i, frame in enumerate(frames):
        if TASK_CALL.match(frame) and i < len(frames) - 1:
            return "run"
    for frame in reversed(frames):
        for stage, pattern in STAGES:
            if pattern.search(frame):
                return stage
    return "bookkeeping" if any("(jobs/" in f for f in frames) else "other"


def read_samples(raw: Path) -> dict[int, Counter[str]]:
    """pid -> samples per stage, from py-spy's raw output (one collapsed stack and a count a line)."""
    found: dict[int, Counter[str]] = defaultdict(Counter)
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():  # not a sample: py-spy notes between them
            continue
        frames = stack.split(";")
        processes = [f for f in frames if f.startswith("process ")]
        if not processes:
            continue
        pid = int(processes[-1].split()[1].split(":")[0])
        code = [f for f in frames if not f.startswith(("process ", "thread "))]
        found[pid][stage_of(code)] += int(count)
    return found


def measure(pool: str, seconds: int, history: bool, tasks: int) -> dict[str, float]:
    """CPU microseconds per task of each stage, for one pool."""
    broker, counter = RedisServer().start(), RedisServer().start()
    tmp = tempfile.mkdtemp()
    env = {**os.environ, "BENCH_BROKER": broker.url, "BENCH_COUNTER": counter.url, "PYTHONPATH": str(ROOT),
           "BENCH_JOBS_HISTORY": "1" if history else "0", "BENCH_DB": os.path.join(tmp, "history.sqlite3"),
           "DJANGO_SETTINGS_MODULE": "benchmarks.systems.jobsbench.settings", "PYTHONUNBUFFERED": "1"}
    raw = RESULTS / f"profile-{pool}.txt"
    worker = None
    try:
        if history:
            subprocess.run([sys.executable, "manage.py", "migrate", "jobs", "-v", "0"], env=env, cwd=ROOT, check=True)
        subprocess.run([sys.executable, "-m", "benchmarks.client", "jobs", "bulk", str(tasks)], env=env, cwd=ROOT,
                       check=True, capture_output=True)
        worker = subprocess.Popen([sys.executable, "manage.py", "runworker", "-P", pool, "-c", "2", "-l", "warning"],
                                  env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        done = redis.Redis.from_url(counter.url)
        while int(done.get("done") or 0) < 2000:  # the drain under way (warm: imports, first fetches)
            if worker.poll() is not None:
                raise SystemExit(f"the {pool} worker exited with {worker.returncode} before draining")
            time.sleep(0.01)
        pids = descendants(worker.pid)
        before = {pid: cpu_seconds([pid]) for pid in pids}
        first = int(done.get("done") or 0)
        subprocess.run([str(PY_SPY), "record", "-p", str(worker.pid), "--subprocesses", "-d", str(seconds),
                        "-r", "250", "-f", "raw", "-o", str(raw), "--nonblocking"], check=True, capture_output=True)
        ran = int(done.get("done") or 0) - first
        cpu = {pid: cpu_seconds([pid]) - before[pid] for pid in pids}
        if first + ran >= tasks - 100:
            raise SystemExit(f"the queue ran dry during the window: raise --tasks above {tasks}")
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(60)
        broker.cleanup()
        counter.cleanup()
    per_stage: Counter[str] = Counter()
    for pid, stages in read_samples(raw).items():
        samples = sum(stages.values())
        for stage, n in stages.items():
            per_stage[stage] += cpu.get(pid, 0.0) * n / samples
    figures = {stage: per_stage[stage] / ran * 1e6 for stage in ORDER}
    figures["total"] = sum(cpu.values()) / ran * 1e6
    figures["jobs' own"] = figures["total"] - figures["run"]  # what jobs costs around the task
    figures["tasks/s"] = ran / seconds
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pools", default="prefork,threads")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=150_000, help="enqueued first; more than the window drains")
    parser.add_argument("--no-history", action="store_true", help="HISTORY off (the default is on)")
    options = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    pools = options.pools.split(",")
    table = {pool: measure(pool, options.seconds, not options.no_history, options.tasks) for pool in pools}
    print(f"\nWorker CPU per no-op task, µs, by stage (history {'off' if options.no_history else 'on'}, "
          f"-c 2, {options.seconds} s of drain sampled):")
    print(f"  {'stage':<14}" + "".join(f"{pool:>10}" for pool in pools))
    for stage in [*ORDER, "total", "jobs' own", "tasks/s"]:
        print(f"  {stage:<14}" + "".join(f"{table[pool][stage]:>10.0f}" for pool in pools))
    (RESULTS / "stages.json").write_text(json.dumps(table, indent=2) + "\n")
    print(f"\nstacks: {', '.join(str(RESULTS / f'profile-{pool}.txt') for pool in pools)} (collapsed; speedscope)")


if __name__ == "__main__":
    main()
