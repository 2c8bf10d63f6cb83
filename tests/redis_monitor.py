"""Redis's MONITOR, read by a test: every command a client sends and, tagged [lua], every command
our scripts run inside Redis, in order. For counting commands (test_costs.py) and for waiting on a
command with given arguments, an event (a coalesced progress update, a history write)."""

import re
import socket
import threading
import uuid

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

    def count_sent(self, start, end, text):
        """Commands clients sent (not those scripts ran) between two lines whose text has `text`."""
        return sum(1 for client, _, line in self.lines[start:end] if client != "lua" and text in line)

    def count_inner_of(self, start, end, text):
        """Commands scripts ran inside Redis for the calls whose line has `text` (an EVALSHA's sha):
        MONITOR shows a script's call, then each command it runs, before the next client's command."""
        inner, theirs = 0, False
        for client, _, line in self.lines[start:end]:
            if client != "lua":
                theirs = text in line
            elif theirs:
                inner += 1
        return inner

    def close(self):
        self.sock.close()

    def wait_for_line(self, pattern, timeout=10):
        """The first line whose raw text (quotes inside arguments shown as \\") matches `pattern`."""
        regex = re.compile(pattern)

        def first():
            return next((t for _, _, t in self.lines if regex.search(t)), None)

        with self._seen:
            assert self._seen.wait_for(lambda: first() is not None, timeout), f"MONITOR never showed /{pattern}/"
            return first()

    def matching(self, pattern):
        regex = re.compile(pattern)
        with self._seen:
            return [t for _, _, t in self.lines if regex.search(t)]
