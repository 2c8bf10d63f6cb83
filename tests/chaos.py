"""Chaos: enqueue N tasks, run several workers, `kill -9` one at random every ~2 s (starting a new one
each time), optionally crash Redis (kill -9, AOF on) when half the tasks have run, optionally break
the workers' Redis connections at random (a fault proxy between them and Redis loses replies and
cuts connections mid-reply: tests/faults.py), and check that nothing was lost.

Or (send_faults, client_kill_every) send the tasks while the workers run, one call each (some in
batches of 10), at a pace the workers keep up with, so that most are handed straight to an idle
consumer, while a fault proxy between the sender and Redis loses some of the sends' replies and
`CLIENT KILL` breaks every client's connection at intervals: each lost reply makes delay() send
again, after the first copy may have run.

Each task appends its number and its delivery count to a file of its own process (evidence outside
Redis, so a Redis fault cannot hide a loss) and adds it to a Redis set. At the end every number must
be in the files:

    lost        numbers never run (must be 0)
    duplicates  runs beyond the first, of two kinds:
      from sends    a second copy of the message, delivered first too (a run with delivery count 1
                    beyond the first such run): a send repeated after a lost reply (must be 0)
      from workers  a run of a message delivered again (delivery count 2 or more) after its worker
                    was killed or lost its lease (at least once: bounded by kills x concurrency x 2)
    crashes     consumers that crashed (must be 0: a broken connection is retried, never fatal)

    python -m tests.chaos                      # make chaos: 10,000 tasks, 30 s of kills, four runs
    python -m tests.chaos --tasks 2000 --kill-for 5
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Report:
    tasks: int
    workers: int
    concurrency: int
    kills: int = 0
    redis_restarts: int = 0
    faults: int = 0  # replies lost or cut by the proxy
    sends_broken: int = 0  # replies to sends lost by the sender's proxy, and CLIENT KILLs
    consumer_crashes: int = 0
    lost: int = 0
    duplicates: int = 0
    from_sends: int = 0  # duplicates that are second copies of a message (a send repeated)
    slowest_recovery: float = 0.0
    drain_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def duplicate_bound(self) -> int:
        # A killed worker's consumers can each have a task running, and acks waiting for the next
        # fetch of what they finished in the last ACK_DELAY (5 ms, consumer.py): a chaos task takes
        # longer, so at most one. A Redis crash can lose the acks in flight of every worker's slots.
        return (self.kills + self.redis_restarts * self.workers) * self.concurrency * 2

    @property
    def from_workers(self) -> int:
        """Duplicates that are a message delivered again (its worker killed, its lease lost)."""
        return self.duplicates - self.from_sends

    @property
    def failed(self) -> bool:
        return (self.lost > 0 or self.from_sends > 0 or self.from_workers > self.duplicate_bound
                or self.consumer_crashes > 0)

    def __str__(self) -> str:
        return (f"tasks {self.tasks}, workers {self.workers} x {self.concurrency}, kills {self.kills}, "
                f"redis restarts {self.redis_restarts}, replies lost or cut {self.faults}, sends broken "
                f"{self.sends_broken}: lost {self.lost}, duplicates {self.duplicates}: from sends "
                f"{self.from_sends}, from workers {self.from_workers} (bound {self.duplicate_bound}), "
                f"consumer crashes {self.consumer_crashes}, slowest recovery {self.slowest_recovery:.1f} s, "
                f"all run after {self.drain_seconds:.1f} s")


class ChaosWorker:
    def __init__(self, name: str, env: dict[str, str], concurrency: int) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "runworker", "-c", str(concurrency), "-n", name],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        self.ready = threading.Event()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            if line.rstrip().endswith("ready."):
                self.ready.set()
        self.ready.set()

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)  # the main process; its children die with it
        self.proc.wait(10)

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)


def _evidence(folder: Path) -> tuple[dict[int, list[tuple[float, int]]], int]:
    """number -> [(when it ran, its delivery count)], and the number of runs."""
    runs: dict[int, list[tuple[float, int]]] = {}
    lines = 0
    for path in folder.glob("*.log"):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            number, at, delivery = line.split()
            runs.setdefault(int(number), []).append((float(at), int(delivery)))
            lines += 1
    return runs, lines


def _send_all(tasks: int, report: Report, pace: float, stop: threading.Event) -> None:
    """Send the tasks one call each (every tenth block of ten in one enqueue_many), `pace` seconds
    apart. A send that gives up (BrokerUnavailable after ENQUEUE_TIMEOUT) is sent again with the
    same ids, as a relay would: it may have reached Redis."""
    from jobs.engine.errors import BrokerUnavailable
    from jobs.engine.send.producer import enqueue_many
    from tests.testapp.tasks import chaos_task

    i = 0
    while i < tasks and not stop.is_set():
        batch = 10 if i % 100 == 90 else 1
        numbers = range(i, min(i + batch, tasks))
        while not stop.is_set():
            try:
                if batch == 1:
                    chaos_task.apply_async((i,), task_id=f"chaos-{i}")
                else:
                    enqueue_many(chaos_task.message((n,), {}, task_id=f"chaos-{n}") for n in numbers)
                break
            except BrokerUnavailable:
                report.notes.append(f"a send of chaos-{i} gave up and was sent again")
        i += len(numbers)
        time.sleep(pace)  # the sender's pace, so that idle consumers take most tasks as they come


def _client_kills(url: str, every: float, report: Report, stop: threading.Event) -> None:
    """CLIENT KILL of every other normal client (workers, the sender's proxy) every `every` s."""
    import redis

    killer = redis.Redis.from_url(url)
    while not stop.wait(every):
        try:
            killer.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
            report.sends_broken += 1
        except redis.RedisError:
            pass  # Redis restarting: the next round
    killer.close()


def run(tasks: int = 10_000, workers: int = 3, concurrency: int = 2, kill_every: float = 2.0,
        kill_for: float = 30.0, restart_redis: bool = False, lease: float = 3.0,
        drain_timeout: float = 300.0, seed: int | None = None, faults: float = 0.0,
        send_faults: float = 0.0, client_kill_every: float = 0.0, send_pace: float = 0.004) -> Report:
    """faults: the chance of each reply to a worker being lost, and again of it being cut.
    send_faults, client_kill_every: the tasks are sent while the workers run (_send_all), through a
    proxy that loses each send's reply with the chance send_faults; every client_kill_every seconds
    (if not 0) a CLIENT KILL breaks every connection."""
    import django
    import redis

    from jobs.devserver import RedisServer
    from tests.faults import FaultProxy

    rng = random.Random(seed)
    evidence_dir = Path(tempfile.mkdtemp(prefix="jobs-chaos-"))
    server = RedisServer(appendonly=restart_redis).start()
    previous_url = os.environ.get("JOBS_BROKER_URL")
    os.environ["JOBS_BROKER_URL"] = server.url  # read by this process's engine and by the workers
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    from jobs.engine.send.producer import enqueue_many
    from jobs.engine.setup import app as engine_app
    from tests.testapp.tasks import chaos_task

    engine_app.reset()
    env = {**os.environ, "JOBS_CHAOS_DIR": str(evidence_dir), "PYTHONUNBUFFERED": "1",
           "JOBS_TEST_SETTINGS": json.dumps({"LEASE_SECONDS": lease, "ENQUEUE_TIMEOUT": 10})}
    proxy = None
    if faults:
        proxy = FaultProxy(server.port).start()
        proxy.chaos(lose=faults, cut=faults, seed=seed)
        env["JOBS_BROKER_URL"] = proxy.url  # the workers, and their tasks' evidence, go through it
    sending = bool(send_faults or client_kill_every)
    sender_proxy = None
    if sending:
        from tests.faults import script

        sender_proxy = FaultProxy(server.port).start()
        if send_faults:
            sender_proxy.chaos(lose=send_faults, cut=0.0, seed=seed,
                               match=lambda cmd: script("enqueue")(cmd) or script("enqueue_unique")(cmd))
        os.environ["JOBS_BROKER_URL"] = sender_proxy.url  # this process's sends go through it
        engine_app.reset()
    report = Report(tasks, workers, concurrency)
    client = redis.Redis.from_url(server.url, retry_on_error=[redis.ConnectionError])  # CLIENT KILL
    running: list[ChaosWorker] = []
    every_worker: list[ChaosWorker] = []
    serial = 0
    kills: list[tuple[float, set[str]]] = []  # (when, task ids the killed worker held)

    def start_worker() -> None:
        nonlocal serial
        serial += 1
        worker = ChaosWorker(f"chaos-{serial}", env, concurrency)
        running.append(worker)
        every_worker.append(worker)

    stop = threading.Event()
    helpers: list[threading.Thread] = []
    try:
        if not sending:
            for first in range(0, tasks, 1000):
                enqueue_many(chaos_task.message((i,), {}, task_id=f"chaos-{i}")
                             for i in range(first, min(first + 1000, tasks)))
        started = time.monotonic()
        for _ in range(workers):
            start_worker()
        for worker in running:
            worker.ready.wait(60)
        if sending:
            helpers.append(threading.Thread(target=_send_all, args=(tasks, report, send_pace, stop), daemon=True))
            if client_kill_every:
                helpers.append(threading.Thread(target=_client_kills, args=(server.url, client_kill_every, report,
                                                                            stop), daemon=True))
            for helper in helpers:
                helper.start()
        # The kills' window opens once the first workers are ready: on a busy machine their start-up
        # alone can take most of a short window, which then saw too few kills to mean anything.
        running_since = time.monotonic()
        kill_until = running_since + kill_for
        next_kill = running_since + kill_every * rng.uniform(0.75, 1.25)
        while True:
            now = time.monotonic()
            done = client.scard("chaos:done")
            if not report.drain_seconds and done >= tasks:
                report.drain_seconds = now - started  # every task has run; kills may go on a while
            if report.drain_seconds and now >= kill_until:
                break
            if now - started > drain_timeout:
                report.notes.append(f"gave up after {drain_timeout:.0f} s")
                report.notes.append(_state(client))  # kept for diagnosis
                break
            if restart_redis and done >= tasks // 2 and not report.redis_restarts:
                server.kill()  # kill -9; appendfsync always: everything acknowledged is on disk
                server.start()
                report.redis_restarts += 1
            if now >= next_kill and now < kill_until:
                victim = rng.choice(running)
                held = _held_by(client, victim.name)
                victim.kill9()
                kills.append((time.time(), held))
                running.remove(victim)
                report.kills += 1
                start_worker()
                next_kill = now + kill_every * rng.uniform(0.75, 1.25)
            time.sleep(0.05)  # a monitoring loop: it watches counts, it does not synchronise
    finally:
        stop.set()
        for helper in helpers:
            helper.join(30)
        for worker in running:
            worker.stop()
        if proxy is not None:
            report.faults = proxy.faults.lost + proxy.faults.cut
            proxy.stop()
        if sender_proxy is not None:
            report.sends_broken += sender_proxy.faults.lost
            sender_proxy.stop()
        server.cleanup()
        if previous_url is None:
            os.environ.pop("JOBS_BROKER_URL", None)
        else:
            os.environ["JOBS_BROKER_URL"] = previous_url
        engine_app.reset()
    report.consumer_crashes = sum(1 for w in every_worker for line in w.output if "crashed" in line)
    runs, lines = _evidence(evidence_dir)
    report.lost = sum(1 for i in range(tasks) if i not in runs)
    report.duplicates = lines - len(runs)
    report.from_sends = sum(max(0, sum(1 for _, delivery in each if delivery == 1) - 1) for each in runs.values())
    for when, held in kills:
        for task_id in held:
            times = [t for t, _ in runs.get(int(task_id.rsplit("-", 1)[1]), []) if t > when]
            if times:
                report.slowest_recovery = max(report.slowest_recovery, min(times) - when)
    return report


def _state(client: object) -> str:
    """Where the messages are, for a report that has to explain a stall."""
    import redis

    assert isinstance(client, redis.Redis)
    parts = []
    for key in sorted(client.scan_iter("{jobs}:*")):
        kind = client.type(key).decode()
        size = {"zset": client.zcard, "hash": client.hlen, "list": client.llen}.get(kind, lambda k: 1)(key)
        parts.append(f"{key.decode()}={size}")
    return "redis: " + ", ".join(parts)


def _held_by(client: object, hostname: str) -> set[str]:
    """Task ids the worker named `hostname` holds right now (from its in-flight entries)."""
    import redis

    assert isinstance(client, redis.Redis)
    uid = None
    for key in client.scan_iter("{jobs}:worker:*"):
        record = json.loads(client.get(key) or "{}")
        if record.get("hostname") == hostname:
            uid = key.decode().rsplit(".", 1)[1]
    if uid is None:
        return set()
    held = set()
    for token, entry in client.hscan_iter("{jobs}:inflight"):
        if token.decode().startswith(uid + "."):
            held.add(entry.split(b"|")[4].decode())
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=2.0)
    parser.add_argument("--kill-for", type=float, default=30.0)
    parser.add_argument("--lease", type=float, default=3.0)
    parser.add_argument("--faults", type=float, default=0.002,
                        help="in the third run, the chance that a reply is lost, and that one is cut")
    parser.add_argument("--send-tasks", type=int, default=2000, help="in the fourth run, the tasks sent")
    parser.add_argument("--send-faults", type=float, default=0.03,
                        help="in the fourth run, the chance that the reply to a send is lost")
    parser.add_argument("--send-pace", type=float, default=0.004,
                        help="in the fourth run, seconds between two sends (the workers keep up, so most wait idle)")
    parser.add_argument("--client-kill-every", type=float, default=0.1,
                        help="in the fourth run, seconds between two CLIENT KILLs of every connection")
    options = parser.parse_args()
    failed = False
    for label, restart, faults, sends in (
            ("worker kills only", False, 0.0, False), ("with a Redis crash half-way", True, 0.0, False),
            ("with lost replies and cut connections", False, options.faults, False),
            ("with lost replies to sends and CLIENT KILLs", False, 0.0, True)):
        report = run(options.send_tasks if sends else options.tasks, options.workers, options.concurrency,
                     options.kill_every, options.kill_for, restart_redis=restart, lease=options.lease,
                     faults=faults, send_faults=options.send_faults if sends else 0.0,
                     client_kill_every=options.client_kill_every if sends else 0.0, send_pace=options.send_pace)
        print(f"{label}: {report}", flush=True)
        for note in report.notes:
            print("  note:", note)
        failed |= report.failed
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
