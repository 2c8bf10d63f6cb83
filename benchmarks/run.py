"""`make bench`: jobs, Celery, RQ, Dramatiq and Huey, on one private Redis, in one run.

For each system and workload: a short probe sizes the run to last about TARGET seconds, then
REPS repetitions give medians. The broker is a private redis-server (its counters reset before each
measurement); the tasks' INCR goes to a second one, so the broker's commands are the queue's own.

Workloads (see the README beside this file): enqueue one call a task; bulk enqueue; drain of
pre-enqueued no-op tasks with 2 processes, and with 2 threads; enqueue-to-start latency at light
load; a realistic mix (1 KB arguments, 5 ms of I/O, 8 threads); an idle worker; under MONITOR,
the commands a task costs, those clients send apart from those run inside scripts; and how it scales:
short tasks behind a long one (the long/short mix), enqueue and drain with a million tasks waiting
(deep), one worker on 10 queues against 1 (many queues), Redis memory per waiting task, and the time
from starting a worker to its first task.

    python -m benchmarks.run [--quick] [--systems jobs,celery] [--workloads deep,memory]
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
    ("jobs --prefetch 0", "jobs", {"BENCH_JOBS_PREFETCH": "0"}),
    ("jobs, no history", "jobs", {"BENCH_JOBS_HISTORY": "0"}),
    ("celery", "celery", {}),
    ("rq", "rq", {}),
    ("dramatiq", "dramatiq", {}),
    ("huey", "huey", {}),
]


#: Every workload, in the order they run; --workloads picks some (memory comes with deep: one fill).
WORKLOADS = ["enqueue", "bulk", "drain_processes", "drain_threads", "latency", "mix", "idle", "counted",
             "long_short", "deep", "memory", "many_queues", "first_task"]
#: The queues of the many-queues workload.
MANY = [f"q{i}" for i in range(10)]


class Bench:
    def __init__(self, target: float, reps: int, quick: bool = False) -> None:
        self.target, self.reps, self.quick = target, reps, quick
        # The scaling workloads: tasks already waiting in the deep queue, in the shallow one its rates
        # are compared with (enough for the drain windows), single sends timed on each, the window.
        self.depth = 100_000 if quick else 1_000_000
        self.shallow = 20_000 if quick else 100_000
        self.sends = 3_000 if quick else 10_000
        self.window = 1.0 if quick else 2.0
        # The latency's tasks (one every 20 ms), and the idle worker's settling time and window (s).
        self.stamped = 100 if quick else 200
        self.idle_settle, self.idle_window = (2.0, 2.0) if quick else (3.0, 5.0)
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

    def worker(self, module: Any, extra: dict[str, str], pool: str, n: int,
               queues: list[str] | None = None) -> subprocess.Popen[bytes] | None:
        command = module.worker_command(pool, n, queues)
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
        if self.quick:  # no probe: 3,000 tasks
            if action == "bulk" and sys.modules[f"benchmarks.systems.{system}_system"].send_bulk is None:
                return None
            n = 3000
        else:
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
        if self.quick:  # no probe: 3,000 tasks
            n = 3000
        else:
            n = self._size(self._drain_once(system, module, extra, pool, workers, 2000, payload, sleep)["rate"])
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

    def _warm_worker(self, system: str, module: Any, extra: dict[str, str]) -> subprocess.Popen[bytes]:
        """A worker of 2 processes, up, warm and idle: it has run a warm-up task and 20 more. Stopped
        by the caller (self.stop)."""
        self.reset()
        worker = self.worker(module, extra, "prefork", 2)
        assert worker is not None
        try:
            self.client(system, extra, "stamped", 20)
            self.wait_count(21, 60)
        except BaseException:
            self.stop(worker)
            raise
        return worker

    def latency(self, system: str, module: Any, extra: dict[str, str]) -> dict[str, Any]:
        runs = []
        for _ in range(self.reps):
            worker = self._warm_worker(system, module, extra)
            try:
                self.counter.delete("latency")
                self.counter.set("done", 0)
                self.client(system, extra, "stamped", self.stamped)
                self.wait_count(self.stamped + 1, 60)
                samples = sorted(float(x) * 1000 for x in self.counter.lrange("latency", 0, -1))
                runs.append({"p50_ms": statistics.median(samples), "p99_ms": samples[int(len(samples) * 0.99) - 1]})
            finally:
                self.stop(worker)
        return _median(runs)

    def idle(self, module: Any, extra: dict[str, str]) -> dict[str, Any]:
        seconds = self.idle_window
        self.reset()
        worker = self.worker(module, extra, "prefork", 2)
        assert worker is not None
        try:
            time.sleep(self.idle_settle)  # let it start and settle; then measure a quiet window
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

    # -- how it scales ---------------------------------------------------------------------------

    def long_short(self, system: str, module: Any, extra: dict[str, str]) -> dict[str, Any]:
        """An idle, warm worker of 2 processes; 100 tasks of 1 ms with one of 2 s in the middle, sent
        together (single sends, each carrying the time it was sent). The short tasks' wait (sent to started), and the
        time from the first send to the last task's end."""
        runs = []
        for _ in range(self.reps):
            worker = self._warm_worker(system, module, extra)
            try:
                self.counter.flushall()
                sent = self.client(system, extra, "mixed", 100, 0, 2.0)
                self.wait_count(102, 60)  # the client's warm-up task, the long one, 100 short
                waits = sorted(float(x) * 1000 for x in self.counter.lrange("waits", 0, -1))
                end = max(float(x) for x in self.counter.lrange("ends", 0, -1))
                runs.append({"wait_p50_ms": statistics.median(waits), "wait_p99_ms": waits[int(len(waits) * 0.99) - 1],
                             "wait_max_ms": waits[-1], "behind_long": sum(w > 1000 for w in waits),
                             "total_s": end - sent["started"]})
            finally:
                self.stop(worker)
        return _median(runs)

    def deep(self, system: str, module: Any, extra: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Enqueue (single sends) and drain (a worker of 2 processes, over windows) with `depth` tasks
        waiting, and the same on an empty queue (enqueue) and a shallow one (drain: just enough for the
        windows). The fill gives Redis's memory per waiting task too: (deep figures, memory figures)."""
        self.reset()
        enqueue_empty = self._send_rate(system, extra)
        self.reset()
        self.client(system, extra, "fill", self.shallow)
        drain_empty = self._drain_window(system, module, extra, None, self.shallow)
        self.reset()
        before = int(self.broker.info("memory")["used_memory"])
        fill = self.client(system, extra, "fill", self.depth)
        stored = int(self.broker.info("memory")["used_memory"]) - before
        enqueue_deep = self._send_rate(system, extra)
        drain_deep = self._drain_window(system, module, extra, None, self.depth)
        return ({"depth": self.depth, "fill_s": fill["seconds"], "enqueue_empty": enqueue_empty,
                 "enqueue_deep": enqueue_deep, "enqueue_ratio": enqueue_deep / enqueue_empty,
                 "drain_empty": drain_empty, "drain_deep": drain_deep, "drain_ratio": drain_deep / drain_empty},
                {"n": self.depth, "bytes_per_task": stored / self.depth})

    def many_queues(self, system: str, module: Any, extra: dict[str, str]) -> dict[str, Any] | None:
        """A worker of 2 processes consuming 10 queues, the tasks spread over them, against one
        consuming 1 (both named queues, the same number of tasks): drain rate over windows."""
        if module.worker_command("prefork", 2, MANY) is None:
            return None
        rates = {}
        for key, queues in (("one", MANY[:1]), ("ten", MANY)):
            self.reset()
            self.client(system, {**extra, "BENCH_QUEUES": ",".join(queues)}, "fill", self.shallow)
            rates[key] = self._drain_window(system, module, extra, queues, self.shallow)
        return {**rates, "ratio": rates["ten"] / rates["one"]}

    def first_task(self, system: str, module: Any, extra: dict[str, str]) -> dict[str, Any]:
        """One task waiting; from starting the worker's process (2 processes) to that task starting."""
        runs = []
        for _ in range(self.reps):
            self.reset()
            self.client(system, extra, "one", 1)
            started = time.time()
            worker = self.worker(module, extra, "prefork", 2)
            assert worker is not None
            try:
                self.wait_count(1, 60)
                runs.append({"seconds": float(self.counter.lindex("starts", 0)) - started})
            finally:
                self.stop(worker)
        return _median(runs)

    def _send_rate(self, system: str, extra: dict[str, str]) -> float:
        return self.sends / self.client(system, extra, "send", self.sends)["seconds"]

    def _drain_window(self, system: str, module: Any, extra: dict[str, str], queues: list[str] | None,
                      waiting: int) -> float:
        """Tasks run per second by a worker of 2 processes, the median of `reps` windows after its first
        task; `waiting` tasks were queued, which must outlast the windows."""
        if queues:
            extra = {**extra, "BENCH_QUEUES": ",".join(queues)}  # Dramatiq declares them from it
        worker = self.worker(module, extra, "prefork", 2, queues)
        assert worker is not None
        try:
            self.wait_count(1, 120)
            rates = []
            for _ in range(self.reps):
                n0, t0 = int(self.counter.get("done") or 0), time.perf_counter()
                time.sleep(self.window)  # the measurement window itself
                n1, t1 = int(self.counter.get("done") or 0), time.perf_counter()
                if n1 >= waiting:
                    raise RuntimeError(f"{system}: {waiting} waiting tasks ran out within the windows")
                rates.append((n1 - n0) / (t1 - t0))
            return statistics.median(rates)
        finally:
            self.stop(worker)

    def _size(self, rate: float) -> int:
        return int(min(200_000, max(2000, rate * self.target)))


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def run_workload(bench: Bench, workload: str, system: str, module: Any, extra: dict[str, str]) -> Any:
    """One workload's figures (deep and memory, which share a fill, are run by Bench.deep)."""
    if workload in ("enqueue", "bulk"):
        return bench.sending(system, extra, "send" if workload == "enqueue" else "bulk")
    if workload == "drain_processes":
        return bench.drain(system, module, extra, "prefork", 2)
    if workload == "drain_threads":
        return bench.drain(system, module, extra, "threads", 2)
    if workload == "mix":
        return bench.drain(system, module, extra, "threads", 8, payload=1024, sleep=0.005)
    if workload == "idle":
        return bench.idle(module, extra)
    return getattr(bench, workload)(system, module, extra)  # latency, counted, long_short, many_queues, ...


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "platform": platform.platform(),
            "redis": subprocess.run([RedisServer().binary, "--version"], capture_output=True, text=True).stdout.strip()}


def main() -> None:
    import importlib

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one repetition of each, smaller (a smoke run)")
    parser.add_argument("--systems", default=",".join(label for label, _, _ in VARIANTS))
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="some only (default: all)")
    options = parser.parse_args()
    wanted = options.systems.split(",")
    workloads = options.workloads.split(",")
    unknown = set(workloads) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))} (known: {', '.join(WORKLOADS)})")
    bench = Bench(target=1.0 if options.quick else 3.0, reps=1 if options.quick else 3, quick=options.quick)
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "systems": {}}
    try:
        for label, system, extra in VARIANTS:
            if label not in wanted and system not in wanted:
                continue
            module = importlib.import_module(f"benchmarks.systems.{system}_system")
            if hasattr(module, "prepare"):
                module.prepare()
            print(f"-- {label} {module.VERSION}", flush=True)
            row: dict[str, Any] = {"version": module.VERSION}
            for workload in WORKLOADS:
                if workload not in workloads or workload in row:
                    continue
                started = time.monotonic()
                if workload in ("deep", "memory"):
                    row["deep"], row["memory"] = bench.deep(system, module, extra)
                else:
                    row[workload] = run_workload(bench, workload, system, module, extra)
                print(f"   {workload}: {time.monotonic() - started:.0f} s", flush=True)
            results["systems"][label] = row
            print(json.dumps(row, indent=None, default=lambda x: round(x, 2)), flush=True)
    finally:
        bench.close()
    report.write(results, ROOT / "benchmarks" / "results")


if __name__ == "__main__":
    main()
