"""The Lua scripts: loaded once per Redis, called by their SHA1, each through a typed spec of its
KEYS and ARGV.

Each script is a file in lua/, named after the broker method that calls it; shared functions live in
lua/lib/ and are pulled in by a ``--@include name`` line. A Redis that lost its script cache
(restart, failover, SCRIPT FLUSH) answers NOSCRIPT; the script is then loaded and the call made
again, which is safe because NOSCRIPT means the script did not run.

A script takes its KEYS and ARGV by position, and a position one off is a bug Redis does not see:
the script reads another key, or nil. So every script is called through a spec (specs/): a
NamedTuple for its KEYS and one for its ARGV, whose fields, in order, are the positions the script's
header names (tests/engine/test_script_specs.py holds each header and its spec to each other). A
call that leaves a field out, or passes one of another script, fails in Python before anything is
sent. A field that holds a variable number of values (Several[str], or Annotated with Grouped(n)
when they come n by n) is flattened in place; an optional one (Maybe[str] = None) is left out when
None, and only the last fields may be optional.

A script called on a hot path (a consumer's fetch, delay()) is a SplitScript: its KEYS and ARGV each
begin with a part that stays the same for its caller, packed once (prepare()), and end with a part
of each call, the only one packed per call, as the fetch always did: redis-py's per-argument
encoding was its largest cost.

On a Redis Cluster every call declares one key more, after those of its spec: the guard (keys.py),
which no script reads and no one writes, so that no script runs while its slot migrates
(redirects.py). The headers and specs leave it out: it is the link's (Link.guard), not the script's.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Annotated, Any, Generic, TypeVar, get_type_hints

from redis.exceptions import NoScriptError

from .connection import Link, pack
from .replicas import WAIT_MS, call_and_wait

#: The one command a script is called by (its name spelt here, where tests/acceptance/test_acl.py finds it).
EVALSHA = "EVALSHA"
_INCLUDE = re.compile(r"^--@include (\w+)\s*$", re.MULTILINE)

#: A spec is a NamedTuple: K and A for the KEYS and ARGV of a script, CK and CA for those of a call.
K = TypeVar("K", bound=tuple[Any, ...])
A = TypeVar("A", bound=tuple[Any, ...])
CK = TypeVar("CK", bound=tuple[Any, ...])
CA = TypeVar("CA", bound=tuple[Any, ...])


class LuaSource:
    """One Lua script's text (its includes in place), called by its SHA1 and loaded again when
    Redis lost it."""

    __slots__ = ("name", "source", "sha", "head")

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source.encode("utf-8")).hexdigest()
        #: EVALSHA and the SHA1, packed: a command is this, numkeys, then its keys and arguments.
        self.head = pack([EVALSHA, self.sha])

    def call(self, link: Link, count: int, command: bytes, spin: bool = True) -> Any:
        """Send a command packed whole (head, numkeys, keys, arguments: `count` in all, see Link.call_packed)."""
        try:
            return link.call_packed(count, command, spin)
        except NoScriptError:
            link.call("SCRIPT", "LOAD", self.source)
            return link.call_packed(count, command, spin)


def _read(path: str) -> str:
    return resources.files(__package__).joinpath("lua", path).read_text(encoding="utf-8")


@cache
def load(name: str) -> LuaSource:
    source = _INCLUDE.sub(lambda m: _read(f"lib/{m.group(1)}.lua"), _read(f"{name}.lua"))
    return LuaSource(name, source)


@dataclass(frozen=True, slots=True)
class Grouped:
    """Marks a spec's field that holds any number of values (KEYS[n ..] in the header), flattened in
    its place; per: they come in groups of that many (ARGV "7 per ack"), which every call checks."""

    per: int = 1


@dataclass(frozen=True, slots=True)
class Omitted:
    """Marks a spec's last field(s), left out when None (KEYS[n] name (optional) in the header)."""


T = TypeVar("T")
#: A field of any number of values: `queues: Several[str]`; in groups: Annotated[..., Grouped(7)].
Several = Annotated[Sequence[T], Grouped()]
#: A field left out when None (a default of None, and only after every field that is not).
Maybe = Annotated[T | None, Omitted()]


@dataclass(frozen=True, slots=True)
class SpecSlot:
    """One name of a spec, as the header test compares it: several = its group size, 0 for one value."""

    name: str
    several: int
    optional: bool


def slots(spec: type) -> tuple[SpecSlot, ...]:
    """A spec's fields as positions, checked once: a NamedTuple, optional fields last."""
    if not (issubclass(spec, tuple) and hasattr(spec, "_fields")):
        raise TypeError(f"{spec.__name__} is not a NamedTuple: a script's spec is one")
    hints = get_type_hints(spec, include_extras=True)
    out = []
    for name in spec._fields:
        marks = getattr(hints[name], "__metadata__", ())
        per = next((m.per for m in marks if isinstance(m, Grouped)), 0)
        out.append(SpecSlot(name, per, any(isinstance(m, Omitted) for m in marks)))
    flags = [s.optional for s in out]
    if flags != sorted(flags):
        raise TypeError(f"{spec.__name__}: an optional field is followed by one that is not")
    return tuple(out)


def _steps(layout: tuple[SpecSlot, ...]) -> list[tuple[int, int]]:
    """A spec's layout as what a call does, in order: (start, stop) takes a run of single values,
    (index, -per) a field of values in groups of per, (index, 0) an optional value."""
    steps: list[tuple[int, int]] = []
    for i, s in enumerate(layout):
        if s.several:
            steps.append((i, -s.several))
        elif s.optional:
            steps.append((i, 0))
        elif steps and steps[-1][1] == i:  # i > 0: this run goes on
            steps[-1] = (steps[-1][0], i + 1)
        else:
            steps.append((i, i + 1))
    return steps


def flattener(spec: type[tuple[Any, ...]]) -> Callable[[Any], list[Any]]:
    """What a call does with a spec's value: its fields as one list, in order. Checks that the value
    is of this spec, and the group size of each field of values in groups. Worked out once a spec:
    runs of single values are taken as slices of the tuple, so a call costs a few steps, not one a
    field."""
    layout = slots(spec)
    steps = _steps(layout)
    name = spec.__name__

    if len(steps) == 1 and steps[0][1] > 0:  # single values only: the tuple itself

        def plain(value: tuple[Any, ...]) -> list[Any]:
            if type(value) is not spec:
                raise TypeError(f"{name} expected, not {type(value).__name__}")
            return list(value)

        return plain

    def flat(value: tuple[Any, ...]) -> list[Any]:
        if type(value) is not spec:  # checked here, not in a helper: this runs twice a call
            raise TypeError(f"{name} expected, not {type(value).__name__}")
        out: list[Any] = []
        for start, stop in steps:
            if stop > 0:
                out += value[start:stop]
            elif stop < 0:
                many = value[start]
                if stop < -1 and len(many) % -stop:
                    raise TypeError(f"{name}.{layout[start].name}: {len(many)} values, not groups of {-stop}")
                out += many
            elif value[start] is not None:
                out.append(value[start])
        return out

    return flat


class Script(Generic[K, A]):
    """A script and its spec: called with a value of its KEYS class and one of its ARGV class."""

    __slots__ = ("name", "keys", "argv", "_keys", "_argv")

    def __init__(self, name: str, keys: type[K], argv: type[A]) -> None:
        self.name, self.keys, self.argv = name, keys, argv
        self._keys, self._argv = flattener(keys), flattener(argv)

    @property
    def loaded(self) -> LuaSource:
        return load(self.name)

    def _command(self, keys: K, argv: A, link: Link) -> tuple[LuaSource, int, bytes]:
        flat_keys, flat_argv = self._keys(keys), self._argv(argv)
        guard = link.guard  # once the spec is checked: a wrong call fails before it reaches the link
        source = load(self.name)
        numkeys = len(flat_keys) + (1 if guard else 0)
        command = b"%b$%d\r\n%d\r\n%b%b%b" % (source.head, len(str(numkeys)), numkeys, pack(flat_keys), guard,
                                             pack(flat_argv))
        return source, 3 + numkeys + len(flat_argv), command

    def __call__(self, link: Link, keys: K, argv: A, spin: bool = True) -> Any:
        source, count, command = self._command(keys, argv, link)
        return source.call(link, count, command, spin)

    def durably(self, link: Link, keys: K, argv: A, replicas: int, wait_ms: int = WAIT_MS) -> Any:
        """__call__, answered once `replicas` replicas have the write (replicas.py: WAIT in the same
        write); the plain call for 0."""
        if not replicas:
            return self(link, keys, argv)
        source, count, command = self._command(keys, argv, link)
        return call_and_wait(link, count, command, source.source, replicas, wait_ms)


class SplitScript(Generic[K, A, CK, CA]):
    """A script whose KEYS and ARGV each begin with what stays the same for its caller (K, A:
    packed once by prepare()) and end with what changes at each call (CK, CA)."""

    __slots__ = ("name", "keys", "argv", "call_keys", "call_argv", "_keys", "_argv", "_call_keys", "_call_argv")

    def __init__(self, name: str, keys: type[K], argv: type[A], call_keys: type[CK], call_argv: type[CA]) -> None:
        self.name, self.keys, self.argv, self.call_keys, self.call_argv = name, keys, argv, call_keys, call_argv
        self._keys, self._argv = flattener(keys), flattener(argv)
        self._call_keys, self._call_argv = flattener(call_keys), flattener(call_argv)
        for spec in (keys, argv):  # what follows an optional field could not be packed ahead of the call
            if any(s.optional for s in slots(spec)):
                raise TypeError(f"{spec.__name__}: the part packed once has no optional field")

    @property
    def loaded(self) -> LuaSource:
        return load(self.name)

    def prepare(self, keys: K, argv: A) -> PreparedScript[CK, CA]:
        flat_keys, flat_argv = self._keys(keys), self._argv(argv)
        return PreparedScript(self, len(flat_keys), pack(flat_keys), len(flat_argv), pack(flat_argv))


class PreparedScript(Generic[CK, CA]):
    """A SplitScript with its caller's part packed: called with the part of each call."""

    __slots__ = ("source", "n_keys", "packed_keys", "n_argv", "packed_argv", "_call_keys", "_call_argv")

    def __init__(self, script: SplitScript[Any, Any, CK, CA], n_keys: int, packed_keys: bytes, n_argv: int,
                 packed_argv: bytes) -> None:
        self.source = load(script.name)
        self.n_keys, self.packed_keys, self.n_argv, self.packed_argv = n_keys, packed_keys, n_argv, packed_argv
        self._call_keys, self._call_argv = script._call_keys, script._call_argv

    def _command(self, keys: CK, argv: CA, link: Link) -> tuple[int, bytes]:
        flat_keys, flat_argv = self._call_keys(keys), self._call_argv(argv)
        guard = link.guard
        numkeys = self.n_keys + len(flat_keys) + (1 if guard else 0)
        command = b"%b$%d\r\n%d\r\n%b%b%b%b%b" % (self.source.head, len(str(numkeys)), numkeys, self.packed_keys,
                                                   pack(flat_keys) if flat_keys else b"", guard, self.packed_argv,
                                                   pack(flat_argv))
        return 3 + numkeys + self.n_argv + len(flat_argv), command

    def __call__(self, link: Link, keys: CK, argv: CA, spin: bool = True) -> Any:
        count, command = self._command(keys, argv, link)
        return self.source.call(link, count, command, spin)

    def durably(self, link: Link, keys: CK, argv: CA, replicas: int, wait_ms: int = WAIT_MS) -> Any:
        """__call__, answered once `replicas` replicas have the write (Script.durably)."""
        if not replicas:
            return self(link, keys, argv)
        count, command = self._command(keys, argv, link)
        return call_and_wait(link, count, command, self.source.source, replicas, wait_ms)

    def send(self, link: Link, keys: CK, argv: CA) -> None:
        """Call it without waiting for the reply (Link.send_packed): a NOSCRIPT comes back as the
        reply, and the caller calls again (the script did not run)."""
        count, command = self._command(keys, argv, link)
        link.send_packed(count, command)
