"""What shards cost and what they spread (issue 26): `python -m benchmarks.shards [--n 20000] [--only NAME,...]`.

Each scenario fills N no-op tasks over three queues q0, q1, q2 (enqueue_many, 1,000 a call), resets
every master's statistics, starts `runworker -c 2 -Q q0,q1,q2` (no history: the Redis side alone), and
times the drain from the first task done to the last. Then it reads each master's `INFO commandstats`
(microseconds of server time spent in commands) and `INFO cpu` (the server process's CPU, networking
included), per task:

    one-1        one redis-server, SHARDS = 1 (today's keys)
    one-3        one redis-server, SHARDS = 3, q0, q1, q2 on shards 0, 1, 2
    cluster-1    a Redis Cluster of 3 masters, SHARDS = 1: every key in one slot, on one master
    cluster-3    the same cluster, SHARDS = 3, with a KEY_PREFIX whose three shard tags sit on three masters

and, before the drains, `sends`: delay() calls per second from one process with SHARDS = 1 (the
single-server path a site without shards takes). On a 2-core machine the worker, the three masters and
the client share the cores: the drain rates say what one such machine does, the per-master costs
(which do not depend on the core count) what more masters take off each.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

import redis
from redis.crc import key_slot

from jobs.devserver import RedisServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUEUES = ["q0", "q1", "q2"]
SCENARIOS = ["sends", "one-1", "one-3", "cluster-1", "cluster-3"]


def _env(broker: str, shards: int, prefix: str, counter: str) -> dict[str, str]:
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "benchmarks.systems.jobsbench.settings", "BENCH_BROKER": broker,
            "BENCH_COUNTER": counter, "BENCH_JOBS_HISTORY": "0", "BENCH_JOBS_SHARDS": str(shards),
            "BENCH_JOBS_PREFIX": prefix, "PYTHONPATH": ROOT,
            "BENCH_JOBS_QUEUE_SHARD": json.dumps({q: i for i, q in enumerate(QUEUES)} if shards == 3 else {})}


def _client(env: dict[str, str], code: str) -> float:
    """Run `code` (it defines `n`-free statements after django.setup) in a fresh process; its seconds."""
    program = ("import django, json, time; django.setup()\n"
               "from jobs import enqueue_many\nfrom benchmarks.systems.jobsbench.tasks import work\n"
               f"started = time.perf_counter()\n{code}\nprint(json.dumps(time.perf_counter() - started))")
    done = subprocess.run([sys.executable, "-c", program], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return float(done.stdout.strip().splitlines()[-1])


def fill(env: dict[str, str], n: int) -> None:
    each = n // len(QUEUES)
    _client(env, f"for q in {QUEUES!r}:\n"
                 f"    s = work.s('', 0.0).set(queue=q)\n"
                 f"    for i in range(0, {each}, 1000): enqueue_many([s] * min(1000, {each} - i))")


def _stats(nodes: list[redis.Redis]) -> list[tuple[float, float]]:
    """Per node: microseconds in commands (commandstats), CPU seconds of the server (user + sys)."""
    out = []
    for node in nodes:
        commands = sum(v["usec"] for k, v in node.info("commandstats").items() if k.startswith("cmdstat_"))
        cpu = node.info("cpu")
        out.append((float(commands), float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])))
    return out


def drain(env: dict[str, str], n: int, nodes: list[redis.Redis], counter: redis.Redis) -> dict[str, Any]:
    counter.delete("done")
    fill(env, n)
    for node in nodes:
        node.config_resetstat()
    before = _stats(nodes)
    worker = subprocess.Popen([sys.executable, "manage.py", "runworker", "-c", "2", "-Q", ",".join(QUEUES),
                               "-l", "warning"], env={**env, "BENCH_DB": ":memory:"}, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    first = last = None
    total = n // len(QUEUES) * len(QUEUES)
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            done = int(counter.get("done") or 0)
            now = time.perf_counter()
            if done and first is None:
                first = now
            if done >= total:
                last = now
                break
            time.sleep(0.005)  # sampling the counter: a measurement's clock, not a synchronisation
    finally:
        worker.terminate()
        worker.wait(60)
    if first is None or last is None:
        said = worker.stderr.read()[-3000:] if worker.stderr else ""
        raise RuntimeError(f"the worker did not drain {total} tasks: {said}")
    after = _stats(nodes)
    return {"rate": (total - 1) / (last - first),
            "usec": [(a[0] - b[0]) / total for a, b in zip(after, before, strict=True)],
            "cpu_us": [(a[1] - b[1]) * 1e6 / total for a, b in zip(after, before, strict=True)]}


def sends(env: dict[str, str], n: int) -> float:
    _client(env, "work.delay('', 0.0)")  # warm the import cache
    return n / _client(env, f"work.delay('', 0.0)\nstarted = time.perf_counter()\nfor _ in range({n}): "
                            "work.delay('', 0.0)")


def _spread_prefix(nodes: list[tuple[str, int, list[tuple[int, int]]]]) -> str:
    """A KEY_PREFIX whose shards 0, 1, 2 are owned by three different masters."""
    def owner(slot: int) -> int:
        return next(port for _, port, ranges in nodes for start, end in ranges if start <= slot <= end)
    for i in range(100_000):
        prefix = f"bench{i}"
        tags = ["{" + prefix + "}", "{" + prefix + ":1}", "{" + prefix + ":2}"]
        if len({owner(key_slot(t.encode())) for t in tags}) == 3:
            return prefix
    raise RuntimeError("no prefix spreads over three masters")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--only", default=",".join(SCENARIOS))
    args = parser.parse_args()
    only = args.only.split(",")
    counter_server = RedisServer().start()
    counter = redis.Redis.from_url(counter_server.url)
    rows: list[tuple[str, dict[str, Any]]] = []
    try:
        if "sends" in only or any(s.startswith("one") for s in only):
            server = RedisServer().start()
            node = redis.Redis.from_url(server.url)
            try:
                if "sends" in only:
                    rate = sends(_env(server.url, 1, "bench", counter_server.url), min(args.n, 5000))
                    print(f"sends, SHARDS=1, one process: {rate:,.0f} delay()/s", flush=True)
                for shards in (1, 3):
                    if f"one-{shards}" in only:
                        node.flushall()
                        rows.append((f"one server, SHARDS={shards}",
                                     drain(_env(server.url, shards, "bench", counter_server.url), args.n, [node],
                                           counter)))
            finally:
                server.cleanup()
        if any(s.startswith("cluster") for s in only):
            sys.path.insert(0, ROOT)
            from tests.servers import start_cluster

            with start_cluster(masters=3) as cluster:
                masters = cluster.masters()
                nodes = [cluster.client(m) for m in masters]
                ranges = [(m.host, m.port, [(s, s) for s in cluster.slots_of(m)]) for m in masters]
                prefix = _spread_prefix([(h, p, _compact(r)) for h, p, r in ranges])
                for shards in (1, 3):
                    if f"cluster-{shards}" in only:
                        for node in nodes:
                            node.flushall()
                        rows.append((f"3-master cluster, SHARDS={shards}",
                                     drain(_env(cluster.url(), shards, prefix, counter_server.url), args.n, nodes,
                                           counter)))
    finally:
        counter_server.cleanup()
    _print(rows, args.n)


def _compact(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and start == out[-1][1] + 1:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def _print(rows: list[tuple[str, dict[str, Any]]], n: int) -> None:
    print(f"\n{n:,} no-op tasks over q0, q1, q2; runworker -c 2; Redis time per task, per master (busiest first)\n")
    print("| setup | drain, tasks/s | commandstats µs/task per master | Redis CPU µs/task per master | "
          "busiest master's share |")
    print("|---|---:|---|---|---:|")
    for name, row in rows:
        usec = sorted(row["usec"], reverse=True)
        cpu = sorted(row["cpu_us"], reverse=True)
        share = usec[0] / sum(usec) if sum(usec) else 0.0
        print(f"| {name} | {row['rate']:,.0f} | {' / '.join(f'{u:.1f}' for u in usec)} | "
              f"{' / '.join(f'{c:.1f}' for c in cpu)} | {share:.0%} |")
    path = os.path.join(ROOT, "benchmarks", "results", "shards.json")
    with open(path, "w") as f:
        json.dump({"n": n, "rows": {name: row for name, row in rows}}, f, indent=1)
    print(f"\n(written to {os.path.relpath(path, ROOT)})")


if __name__ == "__main__":
    main()
