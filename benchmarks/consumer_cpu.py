"""A consumer's own CPU per task, in this process: no other process, no sampling, a task that does
nothing. Where `benchmarks.profile` shares a worker's measured CPU among the stages by py-spy's
samples (the whole worker, the benchmark's INCR included), this runs one Consumer as a worker's
solo pool does (Consumer.step until the queue is drained) and reads this process's CPU time
(time.process_time: user + system, so the socket calls count), which other processes on the machine
barely move. It is the figure a change to the consumer's path is judged by.

    python -m benchmarks.consumer_cpu [--tasks 20000] [--runs 5] [--history 0|1] [--profile N]

The history's recorder runs in a process of its own in a worker (not measured here): with history
on, the consumer only adds the history field to each ack. --profile N prints cProfile's N most
costly functions (cumulative), for one more run: cProfile's own cost inflates every figure in it,
so only the ranking is worth reading.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

from jobs.devserver import RedisServer

ROOT = Path(__file__).resolve().parent.parent


def _setup(history: bool) -> RedisServer:
    broker = RedisServer().start()
    os.environ.update({"BENCH_BROKER": broker.url, "BENCH_COUNTER": broker.url,
                       "BENCH_JOBS_HISTORY": "1" if history else "0",
                       "BENCH_DB": os.path.join(tempfile.mkdtemp(), "history.sqlite3"),
                       "DJANGO_SETTINGS_MODULE": "benchmarks.systems.jobsbench.settings"})
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    return broker


def _drain(tasks: int) -> float:
    """CPU seconds of this process to run `tasks` no-op tasks, sent beforehand."""
    from benchmarks.systems.jobsbench.tasks import noop
    from jobs import enqueue_many
    from jobs.engine.api import app as engine_app
    from jobs.engine.worker.board import Board
    from jobs.engine.worker.consumer import Consumer

    app = engine_app.current()
    for start in range(0, tasks, 1000):
        enqueue_many((noop, (), {}) for _ in range(min(1000, tasks - start)))
    # As in a prefork child: its hard time limit is its supervisor's to enforce.
    consumer = Consumer(app, ["default"], 0, f"bench.{os.getpid()}.{time.monotonic_ns()}.", Board(1),
                        prefetch=app.config.worker_prefetch, hostname="bench")
    consumer.board.ring_fd(os.open(os.devnull, os.O_WRONLY))
    done = [0]

    def ended(**_: object) -> None:
        done[0] += 1

    app.hooks.connect("task_postrun", ended)
    began = time.process_time()
    while done[0] < tasks or consumer.acks.pending:
        consumer.step(time.monotonic())
    spent = time.process_time() - began
    app.hooks.disconnect("task_postrun", ended)
    consumer.stop()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--history", type=int, default=1, help="JOBS['HISTORY'] (1, the default, or 0)")
    parser.add_argument("--profile", type=int, default=0, help="print cProfile's N most costly functions")
    args = parser.parse_args()
    broker = _setup(bool(args.history))
    try:
        _drain(2000)  # warm: scripts loaded, connections made, code paths taken once
        per_task = [_drain(args.tasks) / args.tasks * 1e6 for _ in range(args.runs)]
        print(f"consumer CPU per no-op task (history {'on' if args.history else 'off'}, {args.tasks:,} tasks, "
              f"{args.runs} runs): median {statistics.median(per_task):.1f} µs, min {min(per_task):.1f}, "
              f"max {max(per_task):.1f}")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            _drain(args.tasks)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
