"""Other hosts for a test, as far as the network goes: network namespaces joined to this one by a veth
pair (make_namespace), made and deleted with the `ip` command; a test starts processes inside with
`ip netns exec` and cuts a host off by taking its link down (tests/acceptance/test_partition.py).
Apart from servers.py: that starts Redis servers, this moves processes to another network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any


class NoNamespaces(RuntimeError):
    """`ip netns add` failed here (no root, no `ip`, a container without CAP_SYS_ADMIN): the test
    that needs another host skips, saying this."""


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


@dataclass
class NetNamespace:
    """Another host, as far as the network goes: a network namespace joined to this one by a veth
    pair on a private /30 (10.231.x.y). `host_address` is this side's end (a Redis listening there is
    reachable from inside); `command()` runs a command inside. cut() takes the host side of the link
    down (the inside loses its carrier: packets go nowhere, connections hang rather than close, as
    with a pulled cable or a partition); restore() brings it back. delete() removes the namespace and
    the pair."""

    name: str
    host_veth: str
    host_address: str
    address: str

    def command(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def cut(self) -> None:
        _ip("link", "set", self.host_veth, "down")

    def restore(self) -> None:
        _ip("link", "set", self.host_veth, "up")

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True)
        subprocess.run(["ip", "link", "delete", self.host_veth], capture_output=True)  # gone with its pair, usually

    def __enter__(self) -> NetNamespace:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.delete()


def make_namespace(index: int = 0) -> NetNamespace:
    """A namespace named after this process (jobs-test-<pid>-<index>) and a /30 derived from the pid,
    so that test runs side by side do not meet. NoNamespaces if `ip netns add` fails."""
    pid = os.getpid()
    name = f"jobs-test-{pid}-{index}"
    if not shutil.which("ip"):
        raise NoNamespaces("the `ip` command (iproute2) is not installed")
    done = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if done.returncode:
        raise NoNamespaces(f"`ip netns add` failed (root and CAP_SYS_ADMIN are needed): {done.stderr.strip()}")
    host_veth, inner_veth = f"jh{pid % 10**8}x{index}", f"jn{pid % 10**8}x{index}"  # at most 15 characters
    net = f"10.231.{(pid // 64 + index) % 256}"
    base = (pid % 64) * 4
    space = NetNamespace(name, host_veth, f"{net}.{base + 1}", f"{net}.{base + 2}")
    try:
        _ip("link", "add", host_veth, "type", "veth", "peer", "name", inner_veth)
        _ip("link", "set", inner_veth, "netns", name)
        _ip("addr", "add", f"{space.host_address}/30", "dev", host_veth)
        _ip("link", "set", host_veth, "up")
        _ip("netns", "exec", name, "ip", "addr", "add", f"{space.address}/30", "dev", inner_veth)
        _ip("netns", "exec", name, "ip", "link", "set", inner_veth, "up")
        _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
    except BaseException:
        space.delete()
        raise
    return space
