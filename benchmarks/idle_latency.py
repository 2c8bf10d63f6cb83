"""How fast an idle jobs worker starts a task, and what it costs to be idle: issue 30, item 4.

    python -m benchmarks.idle_latency [--pools prefork,threads] [-n 2000] [--gap 0.015] [--quiet 10] [--probe]

For each pool a worker with the defaults (2 slots on this machine, history on) is started, warmed
up, and sent n tasks one at a time, --gap seconds apart, so the worker is idle for every one. Each
task carries the time.time() its producer took just before .delay(); the task's body takes
time.time() as it starts: "enqueued -> task body starts" (one clock, one machine). Then the worker
is left alone for --quiet seconds and /proc gives its processes' CPU over that window.

--probe also timestamps, in the worker, the moment its blocking wait (BLPOP) returned, and the
producer records when its .delay() returned. That splits each sample into:

    send     .delay() called -> the consumer's BLPOP returned (the producer's encode and script,
             Redis handing the message over, the kernel waking the consumer)
    consume  BLPOP returned -> task body starts (decode, board, hooks, prepare; the consumer's Python)

and counts the samples during which a garbage collection ran in the consumer. The probe patches
Deliveries.wait in the worker (benchmarks/systems/jobsbench/probe.py); it is a measurement only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from benchmarks.measure import cpu_seconds, descendants
from jobs.devserver import RedisServer

ROOT = Path(__file__).resolve().parent.parent


def percentiles(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)

    def at(q: float) -> float:
        return s[min(len(s) - 1, max(0, int(round(q * len(s))) - 1))]

    return {"n": len(s), "p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "p99.9": at(0.999), "max": s[-1]}


def script_names() -> dict[str, str]:
    """sha -> "<name>.lua" of the scripts a send and a fetch run."""
    from jobs.engine.redis.scripts import load

    return {load(name).sha: f"{name}.lua" for name in ("enqueue", "fetch", "ack")}


def send(n: int, gap: float) -> None:
    """The producer (a process of its own, as an application's would be)."""
    from benchmarks.systems import jobs_system  # noqa: F401  (django.setup with the bench settings)
    from benchmarks.systems.jobsbench.tasks import probed

    if os.environ.get("BENCH_NO_SPIN") == "1":  # --no-spin: the producer sleeps in recv for its reply
        from jobs.engine.redis import connection

        connection.SPIN_SECONDS = 0.0

    counter = redis.Redis.from_url(os.environ["BENCH_COUNTER"])
    probed.delay(0.0, -1)  # warm: connections open, scripts loaded; the worker is up once it has run
    deadline = time.monotonic() + 60
    while not counter.get("done"):
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not run the warm-up task in 60 s")
        time.sleep(0.05)
    time.sleep(1.0)  # its consumers back in their idle wait
    returned = []
    started = time.perf_counter()
    for i in range(n):
        next_at = started + gap * (i + 1)
        time.sleep(max(0.0, next_at - time.perf_counter()))  # pacing: the worker is idle each time
        t0 = time.time()
        probed.delay(t0, i)
        returned.append(time.time() - t0)
    counter.rpush("returned", *[json.dumps(r) for r in returned])


def floor_consume() -> None:
    """The floor's consumer: a bare redis-py BLPOP loop, no jobs (as cheap as a hand-off gets here)."""
    broker = redis.Redis.from_url(os.environ["BENCH_BROKER"])
    counter = redis.Redis.from_url(os.environ["BENCH_COUNTER"])
    while True:
        _, sent = broker.blpop(["floor"], 0)  # type: ignore[misc]
        started = time.time()
        if float(sent) < 0:
            return
        counter.rpush("floor", started - float(sent))


def floor_send(n: int, gap: float) -> None:
    broker = redis.Redis.from_url(os.environ["BENCH_BROKER"])
    broker.ping()
    started = time.perf_counter()
    for i in range(n):
        time.sleep(max(0.0, started + gap * (i + 1) - time.perf_counter()))
        broker.rpush("floor", time.time())
    broker.rpush("floor", -1)


class Harness:
    def __init__(self) -> None:
        self.broker_server = RedisServer().start()
        self.counter_server = RedisServer().start()
        self.broker = redis.Redis.from_url(self.broker_server.url)
        self.counter = redis.Redis.from_url(self.counter_server.url)
        self.tmp = tempfile.mkdtemp(prefix="jobs-idle-")
        self.no_spin = False
        self.env = {**os.environ, "BENCH_BROKER": self.broker_server.url, "BENCH_COUNTER": self.counter_server.url,
                    "BENCH_DB": os.path.join(self.tmp, "history.sqlite3"), "PYTHONPATH": str(ROOT),
                    "PYTHONUNBUFFERED": "1",
                    "DJANGO_SETTINGS_MODULE": "benchmarks.systems.jobsbench.settings"}
        if os.environ.get("BENCH_JOBS_HISTORY", "1") == "1":  # the history's table (BENCH_JOBS_HISTORY=0: none)
            subprocess.run([sys.executable, "-c", "from benchmarks.systems import jobs_system; jobs_system.prepare()"],
                           cwd=ROOT, env=self.env, check=True)

    def close(self) -> None:
        self.broker_server.cleanup()
        self.counter_server.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def wait_done(self, total: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while int(self.counter.get("done") or 0) < total:
            if time.monotonic() > deadline:
                logs = "".join(p.read_text()[-2000:] for p in Path(self.tmp).glob("worker-*.log"))
                raise TimeoutError(f"only {self.counter.get('done')} of {total} tasks ran; the worker said:\n{logs}")
            time.sleep(0.05)  # the harness watches a counter; it synchronises nothing

    def floor(self, n: int, gap: float) -> dict[str, Any]:
        """The machine's floor: one message from a process that slept to one blocked in BLPOP, through
        the same Redis, in plain redis-py: what any queue pays here before its own code runs."""
        self.counter.flushall()
        me = [sys.executable, "-m", "benchmarks.idle_latency"]
        consumer = subprocess.Popen([*me, "--floor-consume"], cwd=ROOT, env=self.env)
        try:
            subprocess.run([*me, "--floor-send", str(n), "--gap", str(gap)], cwd=ROOT, env=self.env, check=True,
                           timeout=n * gap + 60)
            consumer.wait(60)
        finally:
            if consumer.poll() is None:
                consumer.kill()
                consumer.wait()
        samples = [float(x) * 1000 for x in self.counter.lrange("floor", 0, -1)]
        return {"pool": "floor (redis-py BLPOP)", "latency_ms": percentiles(samples)}

    def run(self, pool: str, n: int, gap: float, quiet: float, probe: bool) -> dict[str, Any]:
        self.broker.flushall()
        self.counter.flushall()
        env = {**self.env, "BENCH_IDLE_PROBE": "1" if probe else "0", "BENCH_NO_SPIN": "1" if self.no_spin else "0"}
        manage = str(ROOT / "manage.py")
        worker = subprocess.Popen([sys.executable, manage, "runworker", "-P", pool, "-l", "warning"], cwd=ROOT,
                                  env=env, stdout=subprocess.DEVNULL,
                                  stderr=open(os.path.join(self.tmp, f"worker-{pool}.log"), "wb"),
                                  start_new_session=True)
        if probe:  # every command's run time inside Redis (µs), for the script's share
            self.broker.config_set("slowlog-log-slower-than", 0)
            self.broker.config_set("slowlog-max-len", 60 * n + 1000)
            self.broker.slowlog_reset()
        try:
            sender = subprocess.run([sys.executable, "-m", "benchmarks.idle_latency", "--send", str(n),
                                     "--gap", str(gap)], cwd=ROOT, env=env, capture_output=True, text=True,
                                    timeout=n * gap + 120)
            if sender.returncode:
                raise RuntimeError(sender.stderr[-3000:])
            self.wait_done(n + 1, 60)
            rows = [json.loads(x) for x in self.counter.lrange("samples", 0, -1)]
            slowlog = self.broker.slowlog_get(60 * n + 1000) if probe else []
            returned = [json.loads(x) for x in self.counter.lrange("returned", 0, -1)]
            time.sleep(1.0)  # the last task's ack and history settle before the quiet window
            pids = descendants(worker.pid)
            c0, t0 = cpu_seconds(pids), time.monotonic()
            time.sleep(quiet)  # the quiet window itself
            cpu = (cpu_seconds(pids) - c0) / (time.monotonic() - t0) * 100
        finally:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(30)
        out: dict[str, Any] = {"pool": pool, "latency_ms": percentiles([r["total"] * 1000 for r in rows]),
                               "idle_cpu_percent": cpu, "processes": len(pids)}
        if probe:
            out["send_ms"] = percentiles([r["send"] * 1000 for r in rows if "send" in r])
            out["consume_ms"] = percentiles([r["consume"] * 1000 for r in rows if "consume" in r])
            out["delay_returned_ms"] = percentiles([r * 1000 for r in returned])
            slow = sorted(rows, key=lambda r: r["total"])[-max(1, len(rows) // 100):]
            out["slowest_1pct"] = {
                "n": len(slow),
                "send_ms_mean": sum(r.get("send", 0) for r in slow) / len(slow) * 1000,
                "consume_ms_mean": sum(r.get("consume", 0) for r in slow) / len(slow) * 1000,
                "with_gc": sum(1 for r in slow if r.get("gc")),
                "not_handed": sum(1 for r in slow if "send" not in r),
            }
            labels = list(dict.fromkeys(label for r in rows for label in r.get("steps", {})))
            stepped = [r["steps"] for r in rows if "steps" in r]
            out["steps_us"] = {label: percentiles([s[label] * 1e6 for s in stepped if label in s]) for label in labels}
            by_command: dict[str, list[float]] = {}
            for entry in slowlog:
                words = entry.get("command", b"?").split(b" ")
                if words[0].lower() != b"evalsha":  # a script's own commands are logged too
                    continue
                # one script per sha; the wait for the task's own is the one run once per task
                command = script_names().get(words[1].decode(), "evalsha " + words[1][:8].decode())
                by_command.setdefault(command, []).append(entry["duration"])
            out["redis_us"] = {c: percentiles(d) for c, d in by_command.items()}
            out["consumers"] = len({r["consumer"] for r in rows if "consumer" in r})
            out["with_gc"] = sum(1 for r in rows if r.get("gc"))
            out["not_handed"] = sum(1 for r in rows if "send" not in r)
        return out


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| pool | what | n | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        for what in ("latency_ms", "send_ms", "consume_ms", "delay_returned_ms"):
            if what in r:
                p = r[what]
                lines.append(f"| {r['pool']} | {what[:-3]} | {p['n']} | {p['p50']:.3f} | {p['p90']:.3f} | "
                             f"{p['p99']:.3f} | {p['p99.9']:.3f} | {p['max']:.3f} |")
    lines.append("")
    lines.append("| pool | idle CPU % (all worker processes) | processes |")
    lines.append("|---|---|---|")
    for r in results:
        if "idle_cpu_percent" in r:
            lines.append(f"| {r['pool']} | {r['idle_cpu_percent']:.2f} | {r['processes']} |")
    for r in results:
        if "steps_us" in r:
            lines.append(f"\n{r['pool']}: from the consumer's BLPOP return to the task body, each step's share (µs):")
            lines.append("| step (ends as it begins) | p50 | p90 | p99 | max |")
            lines.append("|---|---|---|---|---|")
            for label, p in r["steps_us"].items():
                lines.append(f"| {label} | {p['p50']:.0f} | {p['p90']:.0f} | {p['p99']:.0f} | {p['max']:.0f} |")
    for r in results:
        if r.get("redis_us"):
            lines.append(f"\n{r['pool']}: run time inside Redis per script call (SLOWLOG, µs; n: calls for "
                         f"{r['latency_ms']['n']} tasks):")
            lines.append("| command | n | p50 | p90 | p99 | max |")
            lines.append("|---|---|---|---|---|---|")
            for command, p in r["redis_us"].items():
                lines.append(f"| {command} | {p['n']} | {p['p50']:.0f} | {p['p90']:.0f} | {p['p99']:.0f} | "
                             f"{p['max']:.0f} |")
    for r in results:
        if "slowest_1pct" in r:
            lines.append(f"\n{r['pool']}: slowest 1%: {json.dumps(r['slowest_1pct'])}; samples with a GC "
                         f"in the consumer: {r['with_gc']}; consumers that ran them: {r['consumers']}; "
                         f"not handed over (woken, then fetched): {r['not_handed']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pools", default="prefork,threads")
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--gap", type=float, default=0.015)
    parser.add_argument("--quiet", type=float, default=10.0)
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--no-floor", action="store_true", help="skip the bare redis-py hand-off")
    parser.add_argument("--no-spin", action="store_true", help="the producer does not spin for its replies "
                        "(connection.SPIN_SECONDS = 0 in the sending process only)")
    parser.add_argument("--send", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--floor-send", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--floor-consume", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if args.send:
        send(args.send, args.gap)
        return
    if args.floor_send:
        floor_send(args.floor_send, args.gap)
        return
    if args.floor_consume:
        floor_consume()
        return
    harness = Harness()
    harness.no_spin = args.no_spin
    try:
        results = [] if args.no_floor else [harness.floor(args.n, args.gap)]
        results += [harness.run(pool, args.n, args.gap, args.quiet, args.probe) for pool in args.pools.split(",")]
    finally:
        harness.close()
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
