"""Redis servers a test starts for itself, with the options it is about (ACL users, TLS, Sentinel:
start_sentinel_group(), a master, a replica and three sentinels; a Cluster: start_cluster()), beside the
session's plain server (conftest.redis_server).

    with start_redis("--maxmemory", "10mb") as server:       # a plain server on a free port
        redis.Redis.from_url(server.url).ping()
    with start_redis(tls=make_certificates(tmp_path)) as server:   # TLS only (--port 0), rediss:// URL
        ...

Each server listens on 127.0.0.1 only, on a free port, keeps its files (log, data, the config file a
Sentinel rewrites) in a temporary directory of its own, and is stopped by its PID (never by name):
on leaving the `with`, or by stop(). Certificates are made with the `openssl` command: a CA, a
server certificate for 127.0.0.1 and localhost, a client certificate for mutual TLS.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import redis
from redis.crc import key_slot

from jobs.devserver import find_binary, free_port


@dataclass(frozen=True)
class Certificates:
    """The files of a test CA and of the certificates it signed (PEM)."""

    dir: Path
    ca: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str | Path, cwd: Path) -> None:
    done = subprocess.run(["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"openssl {' '.join(map(str, args[:2]))} failed: {done.stderr.strip()}")


def make_ca(directory: Path, name: str = "ca") -> tuple[Path, Path]:
    """A self-signed CA (P-256: made in milliseconds, where RSA takes a while): (certificate, key)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN=jobs tests {name}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=directory)
    return cert, key


def _signed(directory: Path, name: str, ca: tuple[Path, Path], extensions: str) -> tuple[Path, Path]:
    cert, key, csr, ext = (directory / f"{name}.pem", directory / f"{name}.key", directory / f"{name}.csr",
                           directory / f"{name}.ext")
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
             "-out", csr, "-subj", f"/CN={name}", cwd=directory)
    ext.write_text(extensions)
    _openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial", "-out", cert,
             "-days", "2", "-extfile", ext, cwd=directory)
    return cert, key


def make_certificates(directory: Path) -> Certificates:
    """A CA, a server certificate for 127.0.0.1 and localhost (subjectAltName), a client certificate."""
    if not shutil.which("openssl"):
        raise RuntimeError("the openssl command is needed to make test certificates (apt install openssl)")
    ca = make_ca(directory)
    server = _signed(directory, "server", ca, "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                              "extendedKeyUsage=serverAuth\n")
    client = _signed(directory, "client", ca, "extendedKeyUsage=clientAuth\n")
    return Certificates(directory, *ca, *server, *client)


@dataclass
class RunningServer:
    """A redis-server this test started. `url` reaches it as the default user (over TLS, with
    certificate verification and the client certificate, when it serves TLS)."""

    host: str
    port: int
    url: str
    pid: int
    dir: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    tls: Certificates | None = None

    def pause(self) -> None:
        """SIGSTOP: a stalled server (a long GC-like pause, a frozen VM); its sockets stay open."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def log(self) -> str:
        try:
            return (self.dir / "server.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        """Kill the server (by its PID) and delete its files."""
        if self.process.poll() is None:
            try:
                os.kill(self.pid, signal.SIGCONT)  # a stopped server would not die before it is continued
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def tls_url(port: int, certs: Certificates, host: str = "127.0.0.1", client_cert: bool = True,
            **more: str) -> str:
    """A rediss:// URL with the CA to verify the server by and (client_cert) the client certificate, as
    redis-py reads them from the query string."""
    query = {"ssl_cert_reqs": "required", "ssl_ca_certs": str(certs.ca)}
    if client_cert:
        query |= {"ssl_certfile": str(certs.client_cert), "ssl_keyfile": str(certs.client_key)}
    return f"rediss://{host}:{port}/0?{urlencode({**query, **more})}"


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


T = TypeVar("T")


def tls_or_skip(start: Callable[[], T]) -> T:
    """start() (servers serving TLS), or the test skipped where this redis-server was built without TLS."""
    try:
        return start()
    except RuntimeError as exc:
        if "tls" in str(exc).lower() and "not" in str(exc).lower():
            import pytest  # here: benchmarks/shards.py starts its clusters with this module, without pytest

            pytest.skip(f"this redis-server cannot serve TLS: {exc}")
        raise


def start_redis(*args: str, tls: Certificates | None = None, config: str = "", binary: str | None = None,
                timeout: float = 10.0) -> RunningServer:
    """Start a redis-server with `args` after ours (so they win), on a free loopback port. With `tls`,
    only TLS is served (--port 0 --tls-port PORT) with those certificates; add "--tls-auth-clients",
    "yes" to require the client certificate. `config` is written to redis.conf in the server's
    directory and given first (a Sentinel needs a config file it may rewrite)."""
    binary = binary or os.environ.get("JOBS_REDIS_SERVER") or find_binary()
    directory = Path(tempfile.mkdtemp(prefix="jobs-test-redis-"))
    first: list[str] = []
    if config:
        (directory / "redis.conf").write_text(config)
        first = [str(directory / "redis.conf")]
    for _ in range(3):  # the free port may be taken between free_port() and the server's bind
        port = free_port()
        if tls:
            listen = ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(tls.server_cert),
                      "--tls-key-file", str(tls.server_key), "--tls-ca-cert-file", str(tls.ca),
                      "--tls-auth-clients", "no"]
        else:
            listen = ["--port", str(port)]
        command = [binary, *first, *listen, "--bind", "127.0.0.1", "--dir", str(directory), "--save", "",
                   "--appendonly", "no", "--daemonize", "no", "--logfile", str(directory / "server.log"), *args]
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        url = tls_url(port, tls) if tls else f"redis://127.0.0.1:{port}/0"
        server = RunningServer("127.0.0.1", port, url, process.pid, directory, process, tls)
        deadline = time.monotonic() + timeout
        while not _listening(port):
            if process.poll() is not None:
                break
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"{binary} did not listen on port {port} within {timeout} s")
            time.sleep(0.02)  # start-up has no event to await but the port opening
        else:
            return server
        log = server.log()
        if "Address already in use" not in log:
            server.stop()
            raise RuntimeError(f"{binary} {' '.join(args)} exited at start:\n{log[-2000:]}")
        (directory / "server.log").unlink()  # another port, the same directory
    shutil.rmtree(directory, ignore_errors=True)
    raise RuntimeError(f"{binary}: no free port found in 3 tries")


def start_sentinel(master: RunningServer, service: str = "mymaster", quorum: int = 2,
                   down_after_ms: int = 1000, failover_timeout_ms: int = 5000,
                   tls: Certificates | None = None) -> RunningServer:
    """A Sentinel (redis-server --sentinel) watching `master` as `service`, on a free port. It finds
    the replicas and the other sentinels by itself (INFO and the master's hello channel), and rewrites
    its config file as it learns: that file lives in its own directory."""
    config = (f"sentinel monitor {service} {master.host} {master.port} {quorum}\n"
              f"sentinel down-after-milliseconds {service} {down_after_ms}\n"
              f"sentinel failover-timeout {service} {failover_timeout_ms}\n"
              f"sentinel parallel-syncs {service} 1\n")
    if tls:  # TLS to the sentinel, and from it to the servers it watches
        return start_redis("--sentinel", "--tls-replication", "yes", config=config, tls=tls)
    return start_redis("--sentinel", config=config)


def _until(what: str, condition: Any, timeout: float) -> Any:
    """Poll `condition` (a server's state: Sentinel and replication publish no event a test can
    await) until it returns something true; fail after `timeout` seconds saying `what`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = condition()
        except (OSError, redis.RedisError):
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


@dataclass
class SentinelGroup:
    """A master, its replica and three sentinels watching them as `service`, all on free loopback
    ports (never 6379). `url()` is the BROKER_URL that reaches the service through the sentinels."""

    master: RunningServer
    replica: RunningServer
    sentinels: list[RunningServer]
    service: str = "mymaster"
    #: Replicas beyond the first (start_sentinel_group(replicas=2)): one left to confirm writes to
    #: (ENQUEUE_REPLICAS) once the first is promoted.
    more_replicas: list[RunningServer] = field(default_factory=list)

    def url(self, db: int = 0) -> str:
        """redis+sentinel://, or rediss+sentinel:// with the CA and the client certificate for TLS."""
        hosts = ",".join(f"{s.host}:{s.port}" for s in self.sentinels)
        tls = self.master.tls
        if tls is None:
            return f"redis+sentinel://{hosts}/{self.service}/{db}"
        return f"rediss+sentinel://{hosts}/{self.service}/{db}?" + tls_url(0, tls).partition("?")[2]

    def servers(self) -> list[RunningServer]:
        return [self.master, self.replica, *self.more_replicas]

    def client(self, server: RunningServer) -> redis.Redis:
        if server.tls is None:
            return redis.Redis(server.host, server.port, socket_timeout=5)
        return redis.Redis.from_url(tls_url(server.port, server.tls), socket_timeout=5)

    def master_port(self, sentinel: RunningServer | None = None) -> int:
        """The master's port as a sentinel (the first, unless named) says it now."""
        _, port = self.client(sentinel or self.sentinels[0]).sentinel_get_master_addr_by_name(self.service)
        return int(port)

    def current_master(self) -> RunningServer:
        port = self.master_port()
        return next(s for s in self.servers() if s.port == port)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until every sentinel knows the replica and the two other sentinels, and the replica is in
        sync with the master: before that, a failover would find no replica to promote."""
        def ready() -> bool:
            for sentinel in self.sentinels:
                state = self.client(sentinel).sentinel_master(self.service)
                if int(state["num-slaves"]) < 1 + len(self.more_replicas) or int(state["num-other-sentinels"]) < 2:
                    return False
            for server in self.servers():
                if server.port != self.master_port():
                    info = self.client(server).info("replication")
                    if info.get("master_link_status") != "up":
                        return False
            return True
        _until("the sentinels to know the replica and each other, the replica in sync", ready, timeout)

    def failover(self, timeout: float = 30.0) -> RunningServer:
        """SENTINEL FAILOVER (a planned switch: the replica is in sync before it is promoted); returns
        the new master once every sentinel names it and it answers as a master."""
        old = self.master_port()
        self.client(self.sentinels[0]).execute_command("SENTINEL", "FAILOVER", self.service)
        return self.wait_new_master(old, timeout)

    def wait_new_master(self, old_port: int, timeout: float = 30.0) -> RunningServer:
        def moved() -> bool:
            ports = {self.master_port(s) for s in self.sentinels}
            if len(ports) != 1 or old_port in ports:
                return False
            return self.client(self.current_master()).info("replication")["role"] == "master"
        _until(f"a new master named by every sentinel (the old one on {old_port})", moved, timeout)
        return self.current_master()

    def wait_demoted(self, server: RunningServer, timeout: float = 30.0) -> None:
        """Until a former master answers as a replica: Sentinel reconfigures it some seconds after the
        switch (it waits to see it still claim the master role); until then it takes writes from the
        connections it still has, which the new master never sees."""
        _until(f"the server on {server.port} to be a replica", lambda: self.client(server).info(
            "replication")["role"] == "slave", timeout)

    def stop(self) -> None:
        for server in [*self.sentinels, *self.more_replicas, self.replica, self.master]:
            server.stop()

    def __enter__(self) -> SentinelGroup:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_sentinel_group(service: str = "mymaster", down_after_ms: int = 1000,
                         tls: Certificates | None = None, server_args: tuple[str, ...] = (),
                         replicas: int = 1) -> SentinelGroup:
    """A master, `replicas` replicas of it and three sentinels (quorum 2), ready (wait_ready); with `tls`, all of
    them serve TLS only, and replicate and watch over TLS. `server_args` go to the master and the
    replica (not the sentinels): "--enable-debug-command", "yes" for DEBUG SLEEP."""
    started: list[RunningServer] = []
    over_tls = ["--tls-replication", "yes", *server_args] if tls else [*server_args]
    try:
        master = start_redis(*over_tls, tls=tls)
        started.append(master)
        for _ in range(replicas):
            started.append(start_redis("--replicaof", master.host, str(master.port), *over_tls, tls=tls))
        for _ in range(3):
            started.append(start_sentinel(master, service, down_after_ms=down_after_ms, tls=tls))
        group = SentinelGroup(master, started[1], started[1 + replicas:], service, started[2:1 + replicas])
        group.wait_ready()
        return group
    except BaseException:
        for server in started:
            server.stop()
        raise



def _cli_tls(tls: Certificates | None) -> list[str]:
    """redis-cli's options to reach TLS-only nodes: the CA to verify them by, the client certificate."""
    if tls is None:
        return []
    return ["--tls", "--cacert", str(tls.ca), "--cert", str(tls.client_cert), "--key", str(tls.client_key)]


@dataclass
class ClusterGroup:
    """A Redis Cluster of `masters` masters (and `replicas` replicas each) on free loopback ports, made
    by `redis-cli --cluster create` as a user makes one. `url()` is the BROKER_URL with the nodes
    named as seeds (all, or those given): rediss+cluster:// with the CA and the client certificate when
    the nodes serve TLS (start_cluster(tls=...))."""

    nodes: list[RunningServer]
    tls: Certificates | None = None

    def url(self, *seeds: RunningServer, user: str = "") -> str:
        """`user`: "name:password" of an ACL user (the default user otherwise)."""
        hosts = ",".join(f"{n.host}:{n.port}" for n in (seeds or self.nodes))
        auth = f"{user}@" if user else ""
        if self.tls is None:
            return f"redis+cluster://{auth}{hosts}/"
        return f"rediss+cluster://{auth}{hosts}/?" + tls_url(0, self.tls).partition("?")[2]

    def client(self, node: RunningServer) -> redis.Redis:
        if node.tls is None:
            return redis.Redis(node.host, node.port, socket_timeout=10)
        return redis.Redis.from_url(node.url, socket_timeout=10)

    def replica_reader(self, node: RunningServer) -> redis.Redis:
        """A client that reads a replica's own copy (READONLY): without it, a replica answers MOVED to its
        master for every key."""
        client = (redis.Redis(node.host, node.port, socket_timeout=10, single_connection_client=True)
                  if node.tls is None else redis.Redis.from_url(node.url, socket_timeout=10,
                                                                single_connection_client=True))
        client.execute_command("READONLY")
        return client

    def masters(self) -> list[RunningServer]:
        return [n for n in self.alive() if self.client(n).info("replication")["role"] == "master"]

    def alive(self) -> list[RunningServer]:
        """The nodes not stopped (by a test's kill -9)."""
        return [n for n in self.nodes if n.process.poll() is None]

    def node_id(self, node: RunningServer) -> str:
        return str(self.client(node).execute_command("CLUSTER", "MYID").decode())

    def slots_of(self, node: RunningServer) -> list[int]:
        """The slots `node` owns, as it says itself."""
        owned: list[int] = []
        for start, end, master, *_ in self.client(node).execute_command("CLUSTER", "SLOTS"):
            if int(master[1]) == node.port:
                owned += range(int(start), int(end) + 1)
        return owned

    def owner_of(self, slot: int) -> RunningServer:
        """The master that owns `slot`, as it says itself (CLUSTER COUNTKEYSINSLOT answers only there,
        without a redirection: every node answers CLUSTER SLOTS, but from its own view)."""
        for node in self.masters():
            if slot in self.slots_of(node):
                return node
        raise LookupError(f"no master owns slot {slot}")

    def reshard(self, slot: int, to: RunningServer, timeout: float = 60.0) -> None:
        """Move `slot` to the master `to` with `redis-cli --cluster reshard`, as a user would. That
        command takes the source's lowest slots first and cannot name a slot, so `slot` must be its
        owner's lowest (choose the KEY_PREFIX by lowest_slot_prefix()); the keys move by MIGRATE, 10 at a
        time (--cluster-pipeline), while the cluster answers ASK and TRYAGAIN for the slot."""
        source = self.owner_of(slot)
        if min(self.slots_of(source)) != slot:
            raise ValueError(f"slot {slot} is not the lowest of its owner's slots: redis-cli --cluster reshard "
                             "would move another one")
        done = subprocess.run(
            ["redis-cli", *_cli_tls(self.tls), "--cluster", "reshard", f"{source.host}:{source.port}", "--cluster-from",
             self.node_id(source), "--cluster-to", self.node_id(to), "--cluster-slots", "1", "--cluster-yes"],
            capture_output=True, text=True, timeout=timeout)
        if done.returncode or self.owner_of(slot) is not to:
            raise RuntimeError(f"redis-cli --cluster reshard failed ({done.returncode}):\n{done.stdout[-2000:]}"
                               f"\n{done.stderr[-2000:]}")
        self.wait_ok()

    def begin_move(self, slot: int, to: RunningServer, keys: list[str]) -> None:
        """The first steps of moving `slot` to `to` by hand, as redis-cli does them, held half-way:
        the target IMPORTING, the owner MIGRATING, and only `keys` migrated. Until end_move(), the owner
        answers ASK for the keys that left and TRYAGAIN for a multi-key command whose keys are split."""
        source = self.owner_of(slot)
        self.client(to).execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", self.node_id(source))
        self.client(source).execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", self.node_id(to))
        if keys:
            self.client(source).execute_command("MIGRATE", to.host, to.port, "", 0, 5000, "KEYS", *keys)

    def end_move(self, slot: int, to: RunningServer) -> None:
        """The rest of begin_move(): the keys left migrated, then the slot given to `to` on every master."""
        source = next(n for n in self.masters() if n is not to and slot in self.slots_of(n))
        client = self.client(source)
        while keys := client.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
            client.execute_command("MIGRATE", to.host, to.port, "", 0, 5000, "KEYS", *keys)
        for node in [to, source, *[n for n in self.masters() if n not in (to, source)]]:
            self.client(node).execute_command("CLUSTER", "SETSLOT", slot, "NODE", self.node_id(to))
        self.wait_ok()

    def lowest_slot_prefix(self, node: RunningServer, stem: str = "jobs-cluster") -> str:
        """A KEY_PREFIX whose slot is `node`'s lowest, so that reshard() can move it."""
        lowest = min(self.slots_of(node))
        return next(f"{stem}-{i}" for i in range(1_000_000) if key_slot(f"{{{stem}-{i}}}".encode()) == lowest)

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every node says cluster_state:ok and agrees on who owns what, and every replica is in sync."""
        def ok() -> bool:
            views = set()
            for node in self.alive():
                client = self.client(node)
                if b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
                    return False
                replication = client.info("replication")
                if replication["role"] != "master" and replication["master_link_status"] != "up":
                    return False  # a replica not in sync yet: a failover now would find none to promote
                views.add(repr(sorted((int(s), int(e), int(m[1])) for s, e, m, *_ in
                                      client.execute_command("CLUSTER", "SLOTS"))))
            return len(views) == 1
        _until("every node of the cluster to say cluster_state:ok and agree on the slots", ok, timeout)

    def flush(self) -> None:
        for node in self.masters():
            self.client(node).flushall()
            self.client(node).script_flush()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> ClusterGroup:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _join_by_hand(group: ClusterGroup) -> None:
    """What `redis-cli --cluster create` does, for the 1 or 2 masters it refuses: the slots split in
    even ranges, a distinct config epoch each (no collision to resolve), and every node met by the first."""
    nodes = group.nodes
    client = [group.client(n) for n in nodes]
    for i, node in enumerate(client):
        node.execute_command("CLUSTER", "ADDSLOTSRANGE", 16384 * i // len(nodes), 16384 * (i + 1) // len(nodes) - 1)
        node.execute_command("CLUSTER", "SET-CONFIG-EPOCH", i + 1)
    for other, its in zip(nodes[1:], client[1:], strict=True):
        bus = its.config_get("cluster-port")["cluster-port"]
        client[0].execute_command("CLUSTER", "MEET", other.host, other.port, bus)


def start_cluster(masters: int = 3, replicas: int = 0, timeout: float = 30.0,
                  tls: Certificates | None = None) -> ClusterGroup:
    """`masters * (1 + replicas)` nodes (`redis-server --cluster-enabled yes`, each in its own temporary
    directory with its nodes.conf), joined by `redis-cli --cluster create ... --cluster-yes` into a
    cluster with every slot assigned; returned once every node says cluster_state:ok. redis-cli refuses
    fewer than 3 masters, which the benchmark of 1 and 2 masters needs: those are joined by hand.

    With `tls`, every node serves TLS only (start_redis(tls=...): --port 0), and talks TLS to the others:
    the cluster bus and MIGRATE (--tls-cluster), replication (--tls-replication). A node connecting to
    another shows the client certificate: the bus always asks for one, whatever tls-auth-clients says,
    and the server certificate is for serverAuth only. redis-cli reaches them with --tls (_cli_tls)."""
    if masters < 3 and replicas:
        raise ValueError("a cluster of fewer than 3 masters is joined by hand, without replicas: give replicas=0")
    over_tls = [] if tls is None else [
        "--tls-cluster", "yes", "--tls-replication", "yes", "--tls-client-cert-file", str(tls.client_cert),
        "--tls-client-key-file", str(tls.client_key)]
    started: list[RunningServer] = []
    try:
        for _ in range(masters * (1 + replicas)):
            # The bus port is given: by default it is the port + 10000, past 65535 for many free ports.
            started.append(start_redis("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                       "--cluster-node-timeout", "2000", "--cluster-port", str(free_port()),
                                       *over_tls, tls=tls))
        group = ClusterGroup(started, tls)
        if masters >= 3:
            done = subprocess.run(["redis-cli", *_cli_tls(tls), "--cluster", "create",
                                   *[f"{n.host}:{n.port}" for n in started],
                                   "--cluster-replicas", str(replicas), "--cluster-yes"],
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
            if done.returncode:
                raise RuntimeError(f"redis-cli --cluster create failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        else:
            _join_by_hand(group)
        group.wait_ok(timeout)
        return group
    except BaseException:
        for server in started:
            server.stop()
        raise
