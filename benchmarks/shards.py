"""What shards cost and what they spread (issue 26): `python -m benchmarks.shards [--n 12000] [--only NAME,...]`.

Each row fills N no-op tasks (enqueue_many, 1,000 a call), resets every master's statistics, starts
`runworker -c 3` on the row's queues (no history: the Redis side alone), and times the drain from the
first task done to the last. Then it reads each master's `INFO commandstats` (microseconds of server
time spent in commands) and `INFO cpu` (the server process's CPU, networking and cron included), per
task. Two workloads:

    many   12 queues q0..q11, N/12 tasks each; with SHARDS = k, queue qi on shard i % k
    hot    ONE queue `hot`, with QUEUE_SPREAD = {"hot": k}: its parts on the k shards

and the setups:

    one-1, one-3         one redis-server, SHARDS = 1 (today's keys) and 3: the check that a single
                         server does the same work per task whatever the shards
    cluster-1/2/3        a Redis Cluster of 1, 2, 3 masters with SHARDS = masters and a KEY_PREFIX whose
                         shard tags sit on distinct masters (one shard per master)

`-c 3` gives every setup three consumer processes (a worker splits its concurrency over the shards of
its queues, at least one each), so the drain rates compare like with like. Before the drains, `sends`:
delay() calls per second from one process with SHARDS = 1 (the path a site without shards takes).

On a 2-core machine the worker, the masters and the client share the cores: the drain rates say what
one such machine does, not what more masters give; the per-master costs (server time per task, which
does not depend on the core count) say what each added master takes off each master. On a larger
machine the same script measures the drain's real scaling.
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
MANY = [f"q{i}" for i in range(12)]
WORKLOADS = {"many": MANY, "hot": ["hot"]}
SETUPS = ["one-1", "one-3", "cluster-1", "cluster-2", "cluster-3"]
SCENARIOS = ["sends", *SETUPS]


def _env(broker: str, shards: int, prefix: str, counter: str, workload: str) -> dict[str, str]:
    if workload == "many":
        queue_shard, spread = {q: i % shards for i, q in enumerate(MANY)}, {}
    else:
        queue_shard, spread = {"hot": 0}, ({"hot": shards} if shards > 1 else {})
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "benchmarks.systems.jobsbench.settings", "BENCH_BROKER": broker,
            "BENCH_COUNTER": counter, "BENCH_JOBS_HISTORY": "0", "BENCH_JOBS_SHARDS": str(shards),
            "BENCH_JOBS_PREFIX": prefix, "PYTHONPATH": ROOT,
            "BENCH_JOBS_QUEUE_SHARD": json.dumps(queue_shard if shards > 1 else {}),
            "BENCH_JOBS_QUEUE_SPREAD": json.dumps(spread)}


def _client(env: dict[str, str], code: str) -> float:
    """Run `code` (statements after django.setup) in a fresh process; its seconds."""
    program = ("import django, json, time; django.setup()\n"
               "from jobs import enqueue_many\nfrom benchmarks.systems.jobsbench.tasks import work\n"
               f"started = time.perf_counter()\n{code}\nprint(json.dumps(time.perf_counter() - started))")
    done = subprocess.run([sys.executable, "-c", program], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return float(done.stdout.strip().splitlines()[-1])


def fill(env: dict[str, str], queues: list[str], n: int) -> None:
    each = n // len(queues)
    _client(env, f"for q in {queues!r}:\n"
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


def drain(env: dict[str, str], queues: list[str], n: int, nodes: list[redis.Redis],
          counter: redis.Redis) -> dict[str, Any]:
    for node in nodes:
        node.flushall()
    counter.delete("done")
    fill(env, queues, n)
    for node in nodes:
        node.config_resetstat()
    before = _stats(nodes)
    worker = subprocess.Popen([sys.executable, "manage.py", "runworker", "-c", "3", "-Q", ",".join(queues),
                               "-l", "warning"], env={**env, "BENCH_DB": ":memory:"}, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    first = last = None
    total = n // len(queues) * len(queues)
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and worker.poll() is None:
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


def spread_prefix(owners: list[list[int]], shards: int) -> str:
    """A KEY_PREFIX whose shards 0..shards-1 are owned by as many different masters (`owners`: each
    master's slots), so that each master holds one shard."""
    master_of = {slot: i for i, slots in enumerate(owners) for slot in slots}
    for i in range(100_000):
        prefix = f"bench{i}"
        tags = ["{" + prefix + "}"] + ["{" + prefix + f":{k}}}" for k in range(1, shards)]
        if len({master_of[key_slot(t.encode())] for t in tags}) == shards:
            return prefix
    raise RuntimeError(f"no prefix spreads over {shards} masters")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=12_000)
    parser.add_argument("--only", default=",".join(SCENARIOS))
    args = parser.parse_args()
    only = args.only.split(",")
    counter_server = RedisServer().start()
    counter = redis.Redis.from_url(counter_server.url)
    rows: list[dict[str, Any]] = []
    try:
        if "sends" in only or any(s.startswith("one") for s in only):
            server = RedisServer().start()
            node = redis.Redis.from_url(server.url)
            try:
                if "sends" in only:
                    rate = sends(_env(server.url, 1, "bench", counter_server.url, "many"), min(args.n, 5000))
                    print(f"sends, SHARDS=1, one process: {rate:,.0f} delay()/s", flush=True)
                for shards in (1, 3):
                    if f"one-{shards}" not in only:
                        continue
                    for workload, queues in WORKLOADS.items():
                        env = _env(server.url, shards, "bench", counter_server.url, workload)
                        rows.append({"setup": f"one server, SHARDS={shards}", "masters": 0, "workload": workload,
                                     **drain(env, queues, args.n, [node], counter)})
                        _progress(rows[-1])
            finally:
                server.cleanup()
        masters_to_run = [m for m in (1, 2, 3) if f"cluster-{m}" in only]
        if masters_to_run:
            sys.path.insert(0, ROOT)
            from tests.servers import start_cluster

            for masters in masters_to_run:
                with start_cluster(masters=masters) as cluster:
                    nodes = [cluster.client(m) for m in cluster.masters()]
                    prefix = spread_prefix([cluster.slots_of(m) for m in cluster.masters()], masters)
                    for workload, queues in WORKLOADS.items():
                        env = _env(cluster.url(), masters, prefix, counter_server.url, workload)
                        rows.append({"setup": f"{masters}-master cluster, SHARDS={masters}", "masters": masters,
                                     "workload": workload, **drain(env, queues, args.n, nodes, counter)})
                        _progress(rows[-1])
    finally:
        counter_server.cleanup()
    _print(rows, args.n)


def _progress(row: dict[str, Any]) -> None:
    print(f"  {row['setup']}, {row['workload']}: {row['rate']:,.0f} tasks/s", flush=True)


def _print(rows: list[dict[str, Any]], n: int) -> None:
    print(f"\n{n:,} no-op tasks; runworker -c 3; Redis time per task, per master (busiest first). many: 12 queues "
          "spread over the shards; hot: one queue, QUEUE_SPREAD {'hot': masters}\n")
    print("| setup | workload | drain, tasks/s | commandstats µs/task per master | Redis CPU µs/task per master | "
          "busiest master, µs/task | ÷ vs 1 master |")
    print("|---|---|---:|---|---|---:|---:|")
    one = {r["workload"]: max(r["usec"]) for r in rows if r["masters"] == 1}
    for row in rows:
        usec = sorted(row["usec"], reverse=True)
        cpu = sorted(row["cpu_us"], reverse=True)
        base = one.get(row["workload"])
        ratio = f"{base / usec[0]:.2f}" if base and row["masters"] else "–"
        print(f"| {row['setup']} | {row['workload']} | {row['rate']:,.0f} | {' / '.join(f'{u:.1f}' for u in usec)} | "
              f"{' / '.join(f'{c:.1f}' for c in cpu)} | {usec[0]:.1f} | {ratio} |")
    path = os.path.join(ROOT, "benchmarks", "results", "shards.json")
    with open(path, "w") as f:
        json.dump({"n": n, "worker": "runworker -c 3", "rows": rows}, f, indent=1)
    print(f"\n(written to {os.path.relpath(path, ROOT)})")


if __name__ == "__main__":
    main()
