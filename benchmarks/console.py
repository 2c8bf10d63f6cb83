"""How long each console page takes to make on the server, with a big deployment behind it: a million
tasks waiting, a hundred thousand history rows, fifty workers, ten thousand dead letters, and a day of
per-minute counters for twenty tasks.

    python -m benchmarks.console [--queued 1000000] [--history 100000] [--workers 50] [--dead 10000]

A private redis-server and a fresh SQLite database (the example project's settings). The data is
written through the engine where it has a way (enqueue, dead letters, worker records, the counters'
batches as lib/ack.lua takes them), in bulk. Each page is then requested through Django's test client
as a logged-in superuser (the whole view: Redis reads, the database, the template), warmed up once,
and timed REPEAT times; the median and the slowest are printed. Not a test: the goal (300 ms a page)
is for the reader to compare with.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from jobs.devserver import RedisServer

ROOT = Path(__file__).resolve().parent.parent
REPEAT = 7
TASKS = [f"shop.tasks.job_{i:02d}" for i in range(20)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queued", type=int, default=1_000_000)
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--dead", type=int, default=10_000)
    options = parser.parse_args()

    server = RedisServer().start()
    workdir = tempfile.mkdtemp(prefix="jobs-console-bench-")
    os.environ.update({"DJANGO_SETTINGS_MODULE": "example_project.settings", "JOBS_BROKER_URL": server.url,
                       "EXAMPLE_DB_PATH": str(Path(workdir) / "db.sqlite3"),
                       "EXAMPLE_EMAIL_DIR": str(Path(workdir) / "mail")})
    sys.path.insert(0, str(ROOT))
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        seed(options)
        report(options, measure())
    finally:
        server.stop()


def seed(options: argparse.Namespace) -> None:
    from jobs.engine.setup.app import current
    from jobs.engine.wire.message import Message

    app = current()
    broker = app.broker
    started = time.perf_counter()
    queues = ["default", "emails", "reports", "low"]
    batch: list[Message] = []
    for i in range(options.queued):
        batch.append(Message(id=f"q-{i}", task=TASKS[i % len(TASKS)], args=(i, "order"), queue=queues[i % 4],
                             priority=i % 10))
        if len(batch) == 10_000:
            broker.sends.enqueue(batch)
            batch = []
    if batch:
        broker.sends.enqueue(batch)
    say(f"{options.queued:,} messages enqueued", started)

    started = time.perf_counter()
    history(options.history)
    say(f"{options.history:,} history rows", started)

    started = time.perf_counter()
    link = broker.link
    seconds, _ = link.call("TIME")
    for w in range(options.workers):
        worker_id = f"host-{w}:{1000 + w}.{w:012x}"
        broker.workers.record(worker_id, {"hostname": f"host-{w}:{1000 + w}", "pid": 1000 + w, "queues": queues,
                                         "pool": "prefork", "concurrency": 8, "version": "bench",
                                         "started": time.time() - 3600, "tasks": TASKS})
        link.call("ZADD", broker.keys.workers, int(seconds) * 1000, worker_id)
    say(f"{options.workers} workers registered", started)

    started = time.perf_counter()
    dead_letters(broker, options.dead)
    say(f"{options.dead:,} dead letters", started)

    started = time.perf_counter()
    counters(app)
    say("a day of per-minute counters for 20 tasks", started)


def history(n: int) -> None:
    from django.utils import timezone

    from jobs.models import TaskResult

    now = timezone.now()
    rows = []
    for i in range(n):
        failed = i % 17 == 0
        rows.append(TaskResult(task_id=f"h-{i}", name=TASKS[i % len(TASKS)], status="FAILURE" if failed else "SUCCESS",
                               args=f"[{i}, \"order-{i}\"]", kwargs="{}", result="null" if failed else str(i),
                               traceback="Traceback ...\nValueError: declined" if failed else None,
                               queue="default", worker=f"host-{i % 50}:{1000 + i % 50}", retries=0,
                               date_enqueued=now - dt.timedelta(seconds=i + 1),
                               date_started=now - dt.timedelta(seconds=i), date_done=now - dt.timedelta(seconds=i),
                               runtime=0.01 + (i % 100) / 1000))
        if len(rows) == 5000:
            TaskResult.objects.bulk_create(rows)
            rows = []
    if rows:
        TaskResult.objects.bulk_create(rows)


def dead_letters(broker, n: int) -> None:
    """Messages that cannot be read, put on a queue and taken by a consumer's fetch that gives up on
    each (broker.bury): the dead letters a worker would write."""
    plan = broker.deliveries.plan(["graveyard"], "bench.", "bench-worker")
    for start in range(0, n, 500):
        broker.link.pipeline([("ZADD", broker.keys.queue("graveyard"), 0, f"undecodable {i}".encode())
                              for i in range(start, min(n, start + 500))])
        fetched = broker.deliveries.fetch(plan, 500, start)
        for delivery in fetched.deliveries:
            broker.runs.bury(delivery.token, "the message cannot be decoded (benchmark)", "bench-worker")


def counters(app) -> None:
    """24 h of minutes, as the workers' batches would have written them (metrics.batch, lib/ack.lua)."""
    from jobs.engine.redis import scripts
    from jobs.engine.redis.tally import RUNTIME_BUCKETS, batch

    broker, keys = app.broker, app.keys
    rng = random.Random(7)
    now_minute = int(time.time() // 60)
    args_head = [broker.ttl_ms, broker.history_max, 0]
    for minute in range(now_minute - 1440, now_minute + 1):
        ended: dict[tuple[int, str, str, str, int], int] = {}
        run_us: dict[tuple[int, str], int] = {}
        for t, task in enumerate(TASKS):
            for _ in range(10):
                runtime = rng.lognormvariate(-4 + t / 5, 0.6)
                bucket = next((i for i, b in enumerate(RUNTIME_BUCKETS) if runtime <= b), len(RUNTIME_BUCKETS))
                status = "FAILURE" if rng.random() < 0.03 else "SUCCESS"
                key = (minute, task, "default", status, bucket)
                ended[key] = ended.get(key, 0) + 1
                run_us[(minute, task)] = run_us.get((minute, task), 0) + int(runtime * 1e6)
        lines = batch(keys, {}, ended, run_us, "")
        scripts.load("ack")(broker.link, [keys.leases, keys.inflight, keys.scheduled, keys.history,
                                          keys.history_dropped], [*args_head, lines])


def measure() -> list[tuple[str, list[float]]]:
    from django.contrib.auth.models import User
    from django.test import Client

    user = User.objects.create_superuser("bench", "bench@example.com", "bench")
    client = Client()
    client.force_login(user)
    pages = [("overview", "/admin/jobs/console/"), ("queues", "/admin/jobs/console/queues/"),
             ("workers", "/admin/jobs/console/workers/"), ("running", "/admin/jobs/console/running/"),
             ("scheduled", "/admin/jobs/console/scheduled/"), ("tasks", "/admin/jobs/console/tasks/"),
             ("tasks: by name, failed", "/admin/jobs/console/tasks/?q=job_07&status=FAILURE"),
             ("tasks: text in the arguments", "/admin/jobs/console/tasks/?args=order-99999"),
             ("a task", "/admin/jobs/console/tasks/h-4242/"), ("dead letters", "/admin/jobs/console/dead/"),
             ("dead letters: by reason", "/admin/jobs/console/dead/?reason=decoded"),
             ("metrics (1 h)", "/admin/jobs/console/metrics/"),
             ("metrics (24 h)", "/admin/jobs/console/metrics/?minutes=1440"),
             ("a task's metrics", f"/admin/jobs/console/metrics/{TASKS[3]}/"),
             ("a live fragment (overview)", "/admin/jobs/console/?fragment=1")]
    out = []
    for name, url in pages:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.content[:500])
        times = []
        for _ in range(REPEAT):
            started = time.perf_counter()
            client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        out.append((name, times))
    return out


def report(options: argparse.Namespace, results: list[tuple[str, list[float]]]) -> None:
    print(f"\nConsole pages, server time (Django test client, {REPEAT} runs after a warm-up), with "
          f"{options.queued:,} queued, {options.history:,} history rows, {options.workers} workers, "
          f"{options.dead:,} dead letters, 24 h of counters for {len(TASKS)} tasks:\n")
    print("| page | median ms | slowest ms | under 300 ms |")
    print("|---|---:|---:|---|")
    for name, times in results:
        print(f"| {name} | {statistics.median(times):.0f} | {max(times):.0f} | "
              f"{'yes' if statistics.median(times) < 300 else 'NO'} |")


def say(what: str, started: float) -> None:
    print(f"  {what} in {time.perf_counter() - started:.1f} s", flush=True)


if __name__ == "__main__":
    main()
