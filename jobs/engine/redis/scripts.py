"""The Lua scripts, loaded once per Redis and called by their SHA1.

Each script is a file in lua/, named after the broker method that calls it; shared functions live in
lua/lib/ and are pulled in by a ``--@include name`` line. A Redis that lost its script cache
(restart, failover, SCRIPT FLUSH) answers NOSCRIPT; the script is then loaded and the call made
again, which is safe because NOSCRIPT means the script did not run.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from importlib import resources
from typing import Any

from redis.exceptions import NoScriptError

from .connection import Link

_INCLUDE = re.compile(r"^--@include (\w+)\s*$", re.MULTILINE)


class Script:
    """One Lua script, called by its SHA1 and loaded again when Redis lost it."""

    __slots__ = ("name", "source", "sha")

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source.encode("utf-8")).hexdigest()

    def call_packed(self, link: Link, numkeys: int, count: int, body: bytes, spin: bool = True) -> Any:
        """Like __call__, with keys and arguments already packed (connection.pack): `count` of them."""
        head = b"$7\r\nEVALSHA\r\n$40\r\n%b\r\n$%d\r\n%d\r\n" % (
            self.sha.encode(), len(str(numkeys)), numkeys)
        try:
            return link.call_packed(3 + count, head + body, spin)
        except NoScriptError:
            link.call("SCRIPT", "LOAD", self.source)
            return link.call_packed(3 + count, head + body, spin)

    def send_packed(self, link: Link, numkeys: int, count: int, body: bytes) -> None:
        """Call it without waiting for the reply (Link.send_packed): a NOSCRIPT comes back as the
        reply, and the caller calls again (the script did not run)."""
        head = b"$7\r\nEVALSHA\r\n$40\r\n%b\r\n$%d\r\n%d\r\n" % (
            self.sha.encode(), len(str(numkeys)), numkeys)
        link.send_packed(3 + count, head + body)

    def __call__(self, link: Link, keys: list[str], args: list[Any]) -> Any:
        try:
            return link.call("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            link.call("SCRIPT", "LOAD", self.source)
            return link.call("EVALSHA", self.sha, len(keys), *keys, *args)


def _read(path: str) -> str:
    return resources.files(__package__).joinpath("lua", path).read_text(encoding="utf-8")


@cache
def load(name: str) -> Script:
    source = _INCLUDE.sub(lambda m: _read(f"lib/{m.group(1)}.lua"), _read(f"{name}.lua"))
    return Script(name, source)
