"""A fault injector: a loopback TCP proxy between Redis clients and a redis-server that understands
just enough RESP to pair each reply with the command it answers, so a test can say "lose the reply
to the next fetch" rather than "drop some bytes".

    proxy = FaultProxy(redis_server.port).start()
    worker = start_worker(env={"JOBS_BROKER_URL": proxy.url})
    proxy.lose_reply(script("fetch"), times=1)   # the fetch runs in Redis; its caller never hears back
    proxy.cut_mid_reply(command("GET"))          # half a reply, then the connection is gone
    proxy.delay_replies(0.05)                    # every reply 50 ms late
    proxy.hold() ... proxy.release()             # nothing reaches Redis meanwhile (a black hole)
    proxy.chaos(lose=0.001, cut=0.001)           # at random, for the chaos run

A lost reply is the fault the protocols must survive: the command ran in Redis, and then the
connection broke before its reply arrived. The proxy forwards the command, swallows the reply and
closes the client's side, so the client sees a connection error at once instead of waiting for its
socket timeout. Each fault counts what it did (`proxy.faults`), so a test can assert that it fired.
"""

from __future__ import annotations

import collections
import random
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Command = list[bytes]
Match = Callable[[Command], bool]


def command(name: str) -> Match:
    """Matches a plain command by name (GET, BLPOP, ...)."""
    upper = name.upper().encode()
    return lambda cmd: bool(cmd) and cmd[0].upper() == upper


def script(name: str) -> Match:
    """Matches an EVALSHA of one of jobs' scripts (jobs/engine/lua/<name>.lua)."""
    from jobs.engine.redis import scripts

    sha = scripts.load(name).sha.encode()
    return lambda cmd: len(cmd) > 1 and cmd[0].upper() == b"EVALSHA" and cmd[1] == sha


def anything(cmd: Command) -> bool:
    return True


# -- RESP, just enough to find where a value ends --------------------------------------------


def _line_end(buf: bytes | bytearray, start: int) -> int:
    end = buf.find(b"\r\n", start)
    if end < 0:
        raise IndexError
    return end


def _value_end(buf: bytes | bytearray, start: int) -> int:
    """Offset just past the RESP value starting at `start`; IndexError if it is incomplete."""
    if start >= len(buf):
        raise IndexError
    kind = buf[start:start + 1]
    end = _line_end(buf, start)
    if kind in (b"+", b"-", b":", b"_", b",", b"#", b"("):
        return end + 2
    if kind in (b"$", b"=", b"!"):
        size = int(buf[start + 1:end])
        if size < 0:
            return end + 2
        stop = end + 2 + size + 2
        if stop > len(buf):
            raise IndexError
        return stop
    if kind in (b"*", b"~", b">", b"%", b"|"):
        count = int(buf[start + 1:end])
        if kind in (b"%", b"|"):
            count *= 2
        at = end + 2
        for _ in range(max(count, 0)):
            at = _value_end(buf, at)
        return at
    # An inline command (PING\r\n, as typed in telnet): one line.
    return end + 2


def _command(buf: bytes | bytearray, start: int, stop: int) -> Command:
    """The arguments of a command (a RESP array of bulk strings, or an inline line)."""
    if buf[start:start + 1] != b"*":
        return bytes(buf[start:stop]).strip().split()
    end = _line_end(buf, start)
    count = int(buf[start + 1:end])
    at, out = end + 2, []
    for _ in range(count):
        size_end = _line_end(buf, at)
        size = int(buf[at + 1:size_end])
        out.append(bytes(buf[size_end + 2:size_end + 2 + size]))
        at = size_end + 2 + size + 2
    return out


# -- the proxy -----------------------------------------------------------------------------------


@dataclass
class Rule:
    match: Match
    action: str  # "lose" | "cut"
    times: int  # how many more replies it applies to (-1: for ever)
    then_hold: bool = False  # hold() as it fires, so the caller's retry waits for release()


@dataclass
class Faults:
    lost: int = 0
    cut: int = 0
    commands: list[Command] = field(default_factory=list)  # the commands whose reply was lost or cut


class _Pair:
    """One client connection and its upstream connection, with the commands awaiting replies."""

    def __init__(self, proxy: FaultProxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = socket.create_connection(("127.0.0.1", proxy.upstream_port))
        self.pending: collections.deque[Command] = collections.deque()
        self.lock = threading.Lock()
        self.closed = False
        for sock in (self.client, self.upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=self._pump_commands, daemon=True).start()
        threading.Thread(target=self._pump_replies, daemon=True).start()

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for sock in (self.client, self.upstream):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.proxy._forget(self)

    def _pump_commands(self) -> None:
        buf = bytearray()
        try:
            while True:
                data = self.client.recv(1 << 16)
                if not data:
                    break
                buf += data
                at = 0
                while True:
                    try:
                        end = _value_end(buf, at)
                    except (IndexError, ValueError):
                        break
                    with self.lock:
                        self.pending.append(_command(buf, at, end))
                    at = end
                forward = bytes(buf[:at])
                del buf[:at]
                if forward:
                    self.proxy._gate.wait()  # held: nothing reaches Redis until released
                    self.upstream.sendall(forward)
        except OSError:
            pass
        self.close()

    def _pump_replies(self) -> None:
        buf = bytearray()
        try:
            while True:
                data = self.upstream.recv(1 << 16)
                if not data:
                    break
                buf += data
                at = 0
                while True:
                    try:
                        end = _value_end(buf, at)
                    except (IndexError, ValueError):
                        break
                    with self.lock:
                        cmd = self.pending.popleft() if self.pending else []  # [] = a pushed message
                    reply = bytes(buf[at:end])
                    at = end
                    action = self.proxy._action_for(cmd) if cmd else None
                    delay = self.proxy.reply_delay
                    if delay:
                        time.sleep(delay)
                    if action == "lose":
                        self.close()
                        return
                    if action == "cut":
                        self.client.sendall(reply[: max(1, len(reply) // 2)])
                        self.close()
                        return
                    self.client.sendall(reply)
                del buf[:at]
        except OSError:
            pass
        self.close()


class FaultProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.faults = Faults()
        self.reply_delay = 0.0
        self._rules: list[Rule] = []
        self._chance: tuple[float, float, Match] | None = None
        self._random = random.Random()
        self._pairs: set[_Pair] = set()
        self._lock = threading.Lock()
        self._fired = threading.Condition(self._lock)
        self._gate = threading.Event()
        self._gate.set()
        self._stopped = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> FaultProxy:
        self.listener.listen(128)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        while not self._stopped:
            try:
                ready, _, _ = select.select([self.listener], [], [], 0.2)
                if not ready:
                    continue
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                pair = _Pair(self, client)
            except OSError:  # Redis is down: the client sees its connection refused, as it would
                client.close()
                continue
            with self._lock:
                self._pairs.add(pair)

    def _forget(self, pair: _Pair) -> None:
        with self._lock:
            self._pairs.discard(pair)

    def _action_for(self, cmd: Command) -> str | None:
        with self._lock:
            for rule in self._rules:
                if rule.times != 0 and rule.match(cmd):
                    if rule.times > 0:
                        rule.times -= 1
                    if rule.then_hold:
                        self._gate.clear()
                    return self._count(rule.action, cmd)
            if self._chance is not None:
                lose, cut, match = self._chance
                if match(cmd):
                    roll = self._random.random()
                    if roll < lose:
                        return self._count("lose", cmd)
                    if roll < lose + cut:
                        return self._count("cut", cmd)
        return None

    def _count(self, action: str, cmd: Command) -> str:
        if action == "lose":
            self.faults.lost += 1
        else:
            self.faults.cut += 1
        self.faults.commands.append(cmd)
        self._fired.notify_all()
        return action

    # -- faults --------------------------------------------------------------------------------

    def lose_reply(self, match: Match = anything, times: int = 1, then_hold: bool = False) -> None:
        """The next `times` matching commands run in Redis; their callers never get the reply.
        then_hold: also hold() from that moment, so a test can act before the caller retries."""
        with self._lock:
            self._rules.append(Rule(match, "lose", times, then_hold))

    def cut_mid_reply(self, match: Match = anything, times: int = 1) -> None:
        """Half of the reply arrives, then the connection is gone."""
        with self._lock:
            self._rules.append(Rule(match, "cut", times))

    def chaos(self, lose: float, cut: float, match: Match = anything, seed: int | None = None) -> None:
        """Lose or cut replies at random: each reply is lost with probability `lose`, cut with `cut`."""
        with self._lock:
            self._chance = (lose, cut, match)
            self._random = random.Random(seed)

    def calm(self) -> None:
        """No more faults."""
        with self._lock:
            self._rules.clear()
            self._chance = None
        self.reply_delay = 0.0
        self.release()

    def delay_replies(self, seconds: float) -> None:
        self.reply_delay = seconds

    def hold(self) -> None:
        """Stop passing commands to Redis (they wait in the proxy) until release()."""
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def wait_fired(self, count: int = 1, timeout: float = 30.0) -> None:
        """Wait until `count` faults (lost or cut) have happened."""
        with self._fired:
            if not self._fired.wait_for(lambda: self.faults.lost + self.faults.cut >= count, timeout):
                raise AssertionError(f"only {self.faults.lost + self.faults.cut} of {count} faults fired")

    def cut_all(self) -> None:
        """Break every connection now (the clients see their connections reset)."""
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            pair.close()

    def stop(self) -> None:
        self._stopped = True
        self.release()
        self.listener.close()
        self.cut_all()
