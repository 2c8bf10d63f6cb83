"""`make bench`: jobs, Celery, RQ, Dramatiq and Huey, on one private Redis, in one run.

For each system and workload: a short probe sizes the run to last about TARGET seconds, then
REPS repetitions give medians. The broker is a private redis-server (its counters reset before each
measurement); the tasks' INCR goes to a second one, so the broker's commands are the queue's own.

Workloads (see the README beside this file): enqueue one call a task; bulk enqueue; drain of
pre-enqueued no-op tasks with 2 processes, and with 2 threads; enqueue-to-start latency at light
load; a realistic mix (1 KB arguments, 5 ms of I/O, 8 threads); an idle worker; and, under MONITOR,
the commands a task costs, those clients send apart from those run inside scripts.

    python -m benchmarks.run [--quick] [--systems jobs,celery]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from benchmarks import report
from benchmarks.measure import Monitor, broker_commands, cpu_seconds, descendants, memory_mb, redis_cpu
from jobs.devserver import RedisServer

ROOT = Path(__file__).resolve().parent.parent
#: (label, system module, extra environment)
VARIANTS = [
    ("jobs", "jobs", {}),
    ("jobs --prefetch 20", "jobs", {"BENCH_JOBS_PREFETCH": "20"}),
    ("jobs, no history", "jobs", {"BENCH_JOBS_HISTORY": "0"}),
    ("celery", "celery", {}),
    ("rq", "rq", {}),
    ("dramatiq", "dramatiq", {}),
    ("huey", "huey", {}),
]


class Bench:
    def __init__(self, target: float, reps: int) -> None:
        self.target, self.reps = target, reps
        self.broker_server = RedisServer().start()
        self.counter_server = RedisServer().start()
        self.broker = redis.Redis.from_url(self.broker_server.url)
        self.counter = redis.Redis.from_url(self.counter_server.url)
        # The system modules read these when imported here (for their worker commands), as the
        # clients and workers do in their own processes: never a default Redis on 6379.
        os.environ["BENCH_BROKER"] = self.broker_server.url
        os.environ["BENCH_COUNTER"] = self.counter_server.url
        # jobs writes its task history to a database, as by default: a fresh SQLite file.
        self.tmp = tempfile.mkdtemp(prefix="jobs-bench-")
        os.environ["BENCH_DB"] = os.path.join(self.tmp, "history.sqlite3")

    def close(self) -> None:
        self.broker_server.cleanup()
        self.counter_server.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        return {**os.environ, "BENCH_BROKER": self.broker_server.url, "BENCH_COUNTER": self.counter_server.url,
                "BENCH_DB": os.environ["BENCH_DB"], "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **extra}

    def reset(self) -> None:
        self.broker.flushall()
        self.counter.flushall()
        self.broker.config_resetstat()

    def client(self, system: str, extra: dict[str, str], action: str, n: int, payload: int = 0,
               sleep: float = 0.0) -> dict[str, Any]:
        done = subprocess.run([sys.executable, "-m", "benchmarks.client", system, action, str(n), str(payload),
                               str(sleep)], cwd=ROOT, env=self.env(extra), capture_output=True, text=True, timeout=600)
        if done.returncode:
            raise RuntimeError(f"{system} {action} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def worker(self, module: Any, extra: dict[str, str], pool: str, n: int) -> subprocess.Popen[bytes] | None:
        command = module.worker_command(pool, n)
        if command is None:
            return None
        return subprocess.Popen(command, cwd=ROOT, env=self.env(extra), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)

    @staticmethod
    def stop(worker: subprocess.Popen[bytes]) -> None:
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        worker.wait(30)

    def wait_count(self, total: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while int(self.counter.get("done") or 0) < total:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.counter.get('done')} of {total} tasks ran in {timeout:.0f} s")
            time.sleep(0.002)  # the harness watches a counter; it does not synchronise anything

    # -- workloads -----------------------------------------------------------------------------

    def sending(self, system: str, extra: dict[str, str], action: str) -> dict[str, Any] | None:
        probe = self.client(system, extra, action, 2000)
        if probe["seconds"] is None:
            return None
        n = self._size(2000 / probe["seconds"])
        runs = []
        for _ in range(self.reps):
            self.reset()
            cpu0 = redis_cpu(self.broker)
            result = self.client(system, extra, action, n)
            total = n + result["warmup"]
            runs.append({"rate": n / result["seconds"], "commands": broker_commands(self.broker) / total,
                         "redis_cpu_us": (redis_cpu(self.broker) - cpu0) / total * 1e6})
        return {"n": n, **_median(runs)}

    def drain(self, system: str, module: Any, extra: dict[str, str], pool: str, workers: int,
              payload: int = 0, sleep: float = 0.0) -> dict[str, Any] | None:
        if module.worker_command(pool, workers) is None:
            return None
        probe = self._drain_once(system, module, extra, pool, workers, 2000, payload, sleep)
        n = self._size(probe["rate"])
        runs = [self._drain_once(system, module, extra, pool, workers, n, payload, sleep) for _ in range(self.reps)]
        return {"n": n, **_median(runs)}

    def _drain_once(self, system: str, module: Any, extra: dict[str, str], pool: str, workers: int, n: int,
                    payload: int, sleep: float) -> dict[str, Any]:
        self.reset()
        action = "bulk" if module.send_bulk is not None else "send"
        sent = self.client(system, extra, action, n, payload, sleep)
        total = n + sent["warmup"]
        self.broker.config_resetstat()
        worker = self.worker(module, extra, pool, workers)
        assert worker is not None
        try:
            self.wait_count(1, 60)
            pids = descendants(worker.pid)
            t0, c0, r0 = time.perf_counter(), cpu_seconds(pids), redis_cpu(self.broker)
            k0, done0 = broker_commands(self.broker), int(self.counter.get("done") or 0)
            self.wait_count(total, max(120.0, n / 200))
            t1, c1 = time.perf_counter(), cpu_seconds(pids)
            r1, k1 = redis_cpu(self.broker), broker_commands(self.broker)
            ran = total - done0
            return {"rate": ran / (t1 - t0), "worker_cpu_us": (c1 - c0) / ran * 1e6,
                    "redis_cpu_us": (r1 - r0) / ran * 1e6, "commands": (k1 - k0) / ran,
                    "memory_mb": memory_mb(pids)}
        finally:
            self.stop(worker)

    def latency(self, system: str, module: Any, extra: dict[str, str]) -> dict[str, Any]:
        runs = []
        for _ in range(self.reps):
            self.reset()
            worker = self.worker(module, extra, "prefork", 2)
            assert worker is not None
            try:
                self.client(system, extra, "stamped", 20)
                self.wait_count(21, 60)  # the warm-up task and 20 more: the worker is up and idle
                self.counter.delete("latency")
                self.counter.set("done", 0)
                self.client(system, extra, "stamped", 200)
                self.wait_count(201, 60)
                samples = sorted(float(x) * 1000 for x in self.counter.lrange("latency", 0, -1))
                runs.append({"p50_ms": statistics.median(samples), "p99_ms": samples[int(len(samples) * 0.99) - 1]})
            finally:
                self.stop(worker)
        return _median(runs)

    def idle(self, module: Any, extra: dict[str, str], seconds: float = 5.0) -> dict[str, Any]:
        self.reset()
        worker = self.worker(module, extra, "prefork", 2)
        assert worker is not None
        try:
            time.sleep(3.0)  # let it start and settle; then measure a quiet window
            pids = descendants(worker.pid)
            self.broker.config_resetstat()
            c0 = cpu_seconds(pids)
            time.sleep(seconds)  # the measurement window itself
            return {"commands_per_s": broker_commands(self.broker) / seconds,
                    "cpu_percent": (cpu_seconds(pids) - c0) / seconds * 100}
        finally:
            self.stop(worker)

    def counted(self, system: str, module: Any, extra: dict[str, str], n: int = 1000) -> dict[str, Any]:
        """Commands per task under MONITOR: sent by clients, and run inside scripts."""
        self.reset()
        monitor = Monitor(self.broker_server.port)
        try:
            base = monitor.counts(self.broker)
            sent = self.client(system, extra, "send", n)
            after_send = monitor.counts(self.broker)
            total = n + sent["warmup"]
            worker = self.worker(module, extra, "prefork", 2)
            assert worker is not None
            try:
                self.wait_count(total, 120)
                after_drain = monitor.counts(self.broker)
            finally:
                self.stop(worker)
        finally:
            monitor.close()
        return {"enqueue_client": (after_send[0] - base[0]) / total, "enqueue_inner": (after_send[1] - base[1]) / total,
                "drain_client": (after_drain[0] - after_send[0]) / total,
                "drain_inner": (after_drain[1] - after_send[1]) / total}

    def _size(self, rate: float) -> int:
        return int(min(200_000, max(2000, rate * self.target)))


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "platform": platform.platform(),
            "redis": subprocess.run([RedisServer().binary, "--version"], capture_output=True, text=True).stdout.strip()}


def main() -> None:
    import importlib

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one repetition of ~1 s each (a smoke run)")
    parser.add_argument("--systems", default=",".join(label for label, _, _ in VARIANTS))
    options = parser.parse_args()
    wanted = options.systems.split(",")
    bench = Bench(target=1.0 if options.quick else 3.0, reps=1 if options.quick else 3)
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "systems": {}}
    try:
        for label, system, extra in VARIANTS:
            if label not in wanted and system not in wanted:
                continue
            module = importlib.import_module(f"benchmarks.systems.{system}_system")
            if hasattr(module, "prepare"):
                module.prepare()
            print(f"-- {label} {module.VERSION}", flush=True)
            row = {"version": module.VERSION,
                   "enqueue": bench.sending(system, extra, "send"),
                   "bulk": bench.sending(system, extra, "bulk"),
                   "drain_processes": bench.drain(system, module, extra, "prefork", 2),
                   "drain_threads": bench.drain(system, module, extra, "threads", 2),
                   "latency": bench.latency(system, module, extra),
                   "mix": bench.drain(system, module, extra, "threads", 8, payload=1024, sleep=0.005),
                   "idle": bench.idle(module, extra),
                   "counted": bench.counted(system, module, extra)}
            results["systems"][label] = row
            print(json.dumps(row, indent=None, default=lambda x: round(x, 2)), flush=True)
    finally:
        bench.close()
    report.write(results, ROOT / "benchmarks" / "results")


if __name__ == "__main__":
    main()
