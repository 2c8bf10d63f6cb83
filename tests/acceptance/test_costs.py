"""What a task costs Redis, counted (not timed): a change that doubles the round trips fails here.

Counted with MONITOR, which shows every command a client sends and, tagged [lua], every command our
scripts run inside Redis."""

import os
import re
import socket
import threading
import time
import uuid

import pytest

from tests.testapp import tasks

LINE = re.compile(r'^\+\d+\.\d+ \[\d+ (?P<client>[^\]]+)\] "(?P<command>[^"]+)"')


class Monitor:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"MONITOR\r\n")
        self.lines = []
        self._buffer = b""
        self._ok = threading.Event()
        self._seen = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self._ok.wait(5)

    def _read(self):
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except OSError:
                return
            if not data:
                return
            self._buffer += data
            *lines, self._buffer = self._buffer.split(b"\r\n")
            for raw in lines:
                if raw == b"+OK":
                    self._ok.set()
                    continue
                text = raw.decode("utf-8", "replace")
                m = LINE.match(text)
                if m:
                    with self._seen:
                        self.lines.append((m["client"], m["command"].upper(), text))
                        self._seen.notify_all()

    def barrier(self, client):
        """Send a marker through `client` and wait for MONITOR to show it: every command Redis ran
        before it has then been seen. Returns the index of the marker line."""
        marker = f"barrier-{uuid.uuid4()}"
        client.echo(marker)
        with self._seen:
            assert self._seen.wait_for(lambda: any(marker in line[2] for line in self.lines[-50:]), 10)
            return next(i for i in range(len(self.lines) - 1, -1, -1) if marker in self.lines[i][2])

    def wait_for(self, command, count, timeout=10):
        with self._seen:
            assert self._seen.wait_for(
                lambda: sum(1 for _, c, _ in self.lines if c == command) >= count, timeout)

    def count(self, start, end=None):
        lines = self.lines[start:end]
        top = sum(1 for client, _, _ in lines if client != "lua")
        inner = sum(1 for client, _, _ in lines if client == "lua")
        return top, inner

    def close(self):
        self.sock.close()


def test_redis_commands_per_task(start_worker, redis_server, r):
    n = 500
    monitor = Monitor(redis_server.port)
    try:
        tasks.noop.delay()  # connections and scripts warmed up outside the count
        r.delete("{jobs}:queue:default")
        start = monitor.barrier(r) + 1
        for _ in range(n - 1):
            tasks.noop.delay()
        tasks.record.delay("drained", "last")
        end = monitor.barrier(r)
        enqueue_top, enqueue_inner = monitor.count(start, end)

        start = end + 1
        worker = start_worker("-P", "solo")
        r.blpop(["drained"], timeout=60)
        worker.signal(15)
        worker.wait(20)
        drain_top, drain_inner = monitor.count(start, monitor.barrier(r))
    finally:
        monitor.close()
    drain_top -= 2  # the test's own BLPOP above, and the `record` task's RPUSH
    print(f"\nper task: enqueue {enqueue_top / n:.2f} round trips ({enqueue_inner / n:.2f} inside "
          f"scripts); worker {drain_top / n:.2f} round trips ({drain_inner / n:.2f} inside scripts), "
          f"including start-up and shutdown")
    assert enqueue_top == n  # exactly one round trip per delay()
    assert drain_top / n <= 1.1  # fetch and ack of the previous task share one call
    # Inside scripts, per task: enqueue ZADD + LLEN; fetch TIME, ZRANGEBYSCORE (due countdowns),
    # EXISTS (revocations), ZPOPMIN, HSET, ZADD (lease); ack HDEL, ZREM, SET, PUBLISH: 12.
    assert (enqueue_inner + drain_inner) / n <= 13


def _cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except FileNotFoundError:
            pass
    return total


@pytest.mark.slow
def test_an_idle_worker_blocks_instead_of_polling(start_worker, redis_server, r):
    monitor = Monitor(redis_server.port)
    worker = start_worker("-c", "2")
    try:
        monitor.wait_for("BLPOP", 2)  # both children have gone idle
        pids = [worker.pid, *worker.children()]
        start, ticks = monitor.barrier(r) + 1, _cpu_ticks(pids)
        window = 3.0
        time.sleep(window)  # the measurement window itself, not a wait for an event
        top, _ = monitor.count(start, monitor.barrier(r))
        cpu = (_cpu_ticks(pids) - ticks) / os.sysconf("SC_CLK_TCK")
    finally:
        monitor.close()
    print(f"\nidle worker (prefork, 2 children): {top / window:.1f} commands/s, {cpu / window:.2%} CPU")
    assert top / window <= 3
    assert cpu / window <= 0.02
