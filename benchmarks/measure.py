"""What the harness reads: Redis's own counters, and the CPU and memory of a worker's processes."""

from __future__ import annotations

import os
import re
import socket
import threading
import uuid
from pathlib import Path

import redis

CLK_TCK = os.sysconf("SC_CLK_TCK")
#: Commands the harness itself sends to the broker; not the queue's.
HARNESS = {"info", "config", "flushall", "flushdb", "ping", "client", "hello", "select", "monitor", "echo"}


def broker_commands(client: redis.Redis) -> int:
    """Every command Redis ran since the last CONFIG RESETSTAT, inside scripts included."""
    stats = client.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if k.removeprefix("cmdstat_").split("|")[0] not in HARNESS)


def redis_cpu(client: redis.Redis) -> float:
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / CLK_TCK


def memory_mb(pids: list[int]) -> float:
    """Proportional set size: shared pages (a prefork child's copy of the parent) counted once."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
    return total / 1024


class Monitor:
    """Counts commands with MONITOR, telling those sent by clients from those run inside scripts."""

    LINE = re.compile(rb'^\+\d+\.\d+ \[\d+ (?P<client>[^\]]+)\] "(?P<command>[^"]+)"')

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"MONITOR\r\n")
        self.client = 0
        self.inner = 0
        self._buffer = b""
        self._marks: dict[bytes, threading.Event] = {}
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except OSError:
                return
            if not data:
                return
            self._buffer += data
            *lines, self._buffer = self._buffer.split(b"\r\n")
            for line in lines:
                for mark, event in list(self._marks.items()):
                    if mark in line:
                        event.set()
                match = self.LINE.match(line)
                if not match or match["command"].lower().decode() in HARNESS:
                    continue
                if match["client"] == b"lua":
                    self.inner += 1
                else:
                    self.client += 1

    def counts(self, client: redis.Redis) -> tuple[int, int]:
        """(client commands, commands inside scripts) seen so far; waits until MONITOR caught up."""
        mark = f"mark-{uuid.uuid4()}".encode()
        event = self._marks[mark] = threading.Event()
        client.echo(mark)
        event.wait(10)
        del self._marks[mark]
        return self.client, self.inner

    def close(self) -> None:
        self.sock.close()
