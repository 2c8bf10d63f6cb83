"""Every Lua script's spec (jobs/engine/redis/specs/) against its header (lua/<name>.lua), and a call
that does not fit its script refused before anything reaches Redis. No Redis here.

A header names each position on a line of its own: ``KEYS[<position>] <name>``, then ``(optional)``
for one that may be left out, then ``: what it is``, which may go on over lines indented further.
A position is a number, or, after a part of variable length, an expression (``15+nq``); a part of
variable length spans ``<first> ..`` or ``<first> .. <last>``, and says ``<n> per`` when its values
come in groups of n.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from jobs.engine.redis import scripts, specs
from jobs.engine.redis.scripts import PreparedScript, Script, SpecSlot, SplitScript, slots
from jobs.engine.redis.specs.consuming import (
    ACK_EARLY,
    FETCH,
    STARTED,
    AckEarlyKeys,
    FetchArgs,
    FetchCallArgs,
    FetchCallKeys,
    FetchKeys,
    StartedArgs,
    StartedKeys,
)
from jobs.engine.redis.specs.leasing import RENEW, RenewArgs, RenewKeys
from jobs.engine.redis.specs.sending import ENQUEUE, EnqueueCallArgs, EnqueueCallKeys

LUA = Path(scripts.__file__).parent / "lua"
_ENTRY = re.compile(r"^(?P<indent>\s*)(?P<table>KEYS|ARGV)\[(?P<position>[^\]]+)\] (?P<name>\w+)"
                    r"(?P<optional> \(optional\))?(?::\s*(?P<what>.*))?$")


class Entry(NamedTuple):
    table: str
    position: str
    name: str
    optional: bool
    what: str


def header(path: Path) -> list[Entry]:
    """The KEYS and ARGV a script's header (its first --[[ ]] block) names, in order."""
    text = path.read_text()
    assert text.startswith("--[["), f"{path.name}: no header"
    entries: list[Entry] = []
    indent = None
    for line in text[4:text.index("]]")].splitlines():
        found = _ENTRY.match(line)
        if found:
            indent = len(found["indent"])
            entries.append(Entry(found["table"], found["position"].strip(), found["name"], bool(found["optional"]),
                                 found["what"] or ""))
        elif entries and indent is not None and line.strip() and len(line) - len(line.lstrip()) > indent:
            last = entries[-1]
            entries[-1] = last._replace(what=f"{last.what} {line.strip()}")
        else:
            indent = None
    return entries


def all_scripts() -> dict[str, Script[Any, Any] | SplitScript[Any, Any, Any, Any]]:
    found: dict[str, Script[Any, Any] | SplitScript[Any, Any, Any, Any]] = {}
    for info in pkgutil.iter_modules(specs.__path__):
        module = importlib.import_module(f"{specs.__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, (Script, SplitScript)):
                assert value.name not in found, f"{value.name}: two specs"
                found[value.name] = value
    return found


def spec_slots(script: Script[Any, Any] | SplitScript[Any, Any, Any, Any]) -> dict[str, list[SpecSlot]]:
    if isinstance(script, SplitScript):
        return {"KEYS": [*slots(script.keys), *slots(script.call_keys)],
                "ARGV": [*slots(script.argv), *slots(script.call_argv)]}
    return {"KEYS": list(slots(script.keys)), "ARGV": list(slots(script.argv))}


SCRIPTS = all_scripts()


def test_every_script_has_a_spec_and_every_spec_a_script():
    assert sorted(SCRIPTS) == sorted(p.stem for p in LUA.glob("*.lua"))  # lib/ holds included pieces


def mismatches(name: str, folder: Path = LUA) -> list[str]:
    """How the header of lua/<name>.lua and its spec differ: names, order, positions, kinds."""
    entries = header(folder / f"{name}.lua")
    wrong: list[str] = []
    for table, spec in spec_slots(SCRIPTS[name]).items():
        named = [e for e in entries if e.table == table]
        if [e.name for e in named] != [s.name for s in spec]:
            wrong.append(f"{table}: header {[e.name for e in named]} != spec {[s.name for s in spec]}")
            continue
        fixed = True  # no part of variable length so far: positions are plain numbers
        for index, (entry, slot) in enumerate(zip(named, spec, strict=True), start=1):
            where = f"{table}[{entry.position}] {entry.name}"
            first = entry.position.split("..")[0].strip()
            if fixed and first != str(index):
                wrong.append(f"{where}: at position {index} in the spec")
            if not fixed and first.isdigit():
                wrong.append(f"{where}: follows a part of variable length, so its position is an expression")
            if bool(slot.several) != (".." in entry.position):
                wrong.append(f"{where}: several values in one and not the other")
            if slot.several > 1 and not entry.what.startswith(f"{slot.several} per "):
                wrong.append(f"{where}: the spec takes them {slot.several} by {slot.several}; the header says "
                             f"'{entry.what[:20]}...'")
            if slot.optional != entry.optional:
                wrong.append(f"{where}: optional in one and not the other")
            fixed = fixed and not slot.several
    return wrong


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_the_header_and_the_spec_agree(name):
    assert mismatches(name) == []


def test_the_comparison_finds_what_it_looks_for(tmp_path):
    """A header with names swapped, a position off, a part of variable length or an optional one
    lost, or groups not said, fails (a check that finds nothing proves nothing)."""
    renew = (LUA / "renew.lua").read_text()
    broken = {
        "swapped": renew.replace("ARGV[1] lease_ms", "ARGV[1] @").replace("ARGV[2] report_lost", "ARGV[2] lease_ms")
                        .replace("ARGV[1] @", "ARGV[1] report_lost"),
        "shifted": renew.replace("ARGV[2] report_lost", "ARGV[3] report_lost"),
        "not several": renew.replace("ARGV[3 ..] tokens", "ARGV[3] tokens"),
        "optional": renew.replace("ARGV[2] report_lost", "ARGV[2] report_lost (optional)"),
    }
    for what, text in broken.items():
        (tmp_path / "renew.lua").write_text(text)
        assert mismatches("renew", tmp_path), what
    (tmp_path / "ack.lua").write_text((LUA / "ack.lua").read_text().replace("acks: 7 per ack", "acks: per ack"))
    assert any("takes them 7 by 7" in m for m in mismatches("ack", tmp_path))


class Refuses:
    """A link that fails the test if anything is sent through it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"Redis reached: link.{name}")


def test_a_call_missing_a_key_or_an_argument_fails_before_redis():
    with pytest.raises(TypeError):
        RenewArgs(lease_ms=1000, tokens=["t"])  # type: ignore[call-arg]  # report_lost left out
    with pytest.raises(TypeError):
        RenewKeys(leases="l", inflight="i")  # type: ignore[call-arg]  # one key too many


def test_a_call_with_another_scripts_spec_fails_before_redis():
    with pytest.raises(TypeError, match="RenewKeys expected"):
        RENEW(Refuses(), AckEarlyKeys(inflight="i"), RenewArgs(lease_ms=1, report_lost="", tokens=()))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="AckEarlyArgs expected"):
        ACK_EARLY(Refuses(), AckEarlyKeys(inflight="i"), ("token",))  # type: ignore[arg-type]  # a bare tuple


def test_values_in_groups_must_come_in_whole_groups():
    prepared = FETCH.prepare(*_fetch_consumer())
    six = ["token", "payload", "channel", 0, "", ""]  # an ack of 6 values: its history left out
    argv = FetchCallArgs(want=1, first_seq=1, woken=0, registered_seq="", register=0, n_acks=1, acks=six, counts="")
    with pytest.raises(TypeError, match="acks: 6 values, not groups of 7"):
        prepared(Refuses(), FetchCallKeys(results=["r"]), argv)


def test_the_part_packed_once_and_the_part_of_each_call_make_the_whole_command():
    """What a prepared fetch sends: EVALSHA, its SHA1, numkeys, then KEYS and ARGV in header order."""
    keys, argv = _fetch_consumer()
    sent: list[tuple[int, bytes]] = []

    class Recorder:
        guard = b""  # a link to one server: no guard key (redirects.py)

        def call_packed(self, count: int, command: bytes, spin: bool = True) -> None:
            sent.append((count, command))

    ack = ["tok", "payload", "done", 0, "", "", ""]
    call = FetchCallArgs(want=2, first_seq=5, woken=1, registered_seq="", register=0, n_acks=1, acks=ack, counts="")
    prepared = FETCH.prepare(keys, argv)
    assert isinstance(prepared, PreparedScript)
    prepared(Recorder(), FetchCallKeys(results=["result:1"]), call)
    count, command = sent[0]
    parts = command.split(b"\r\n")[1::2]  # RESP bulk strings: $len, value, $len, value, ...
    assert count == len(parts)
    assert parts[:3] == [b"EVALSHA", FETCH.loaded.sha.encode(), b"17"]  # 14 keys, 1 queue, its wake, 1 result
    assert parts[3:20] == [k.encode() for k in (*keys[:14], "q:a", "w:a", "result:1")]
    assert parts[20 + 13] == b"a" and parts[20 + 14:20 + 20] == [b"2", b"5", b"1", b"", b"0", b"1"]
    assert parts[-8:] == [b"tok", b"payload", b"done", b"0", b"", b"", b"", b""]


def test_on_a_cluster_every_call_declares_the_guard_after_its_own_keys():
    """The guard (keys.py, redirects.py) goes last of the KEYS, where no script reads, for a prepared
    call and a plain one alike; numkeys counts it."""
    keys, argv = _fetch_consumer()
    sent: list[tuple[int, bytes]] = []
    guard = "{jobs}:migrating"

    class ClusterLink:
        def __init__(self) -> None:
            self.guard = b"$%d\r\n%b\r\n" % (len(guard), guard.encode())

        def call_packed(self, count: int, command: bytes, spin: bool = True) -> None:
            sent.append((count, command))

    ack = ["tok", "payload", "done", 0, "", "", ""]
    call = FetchCallArgs(want=2, first_seq=5, woken=1, registered_seq="", register=0, n_acks=1, acks=ack, counts="")
    FETCH.prepare(keys, argv)(ClusterLink(), FetchCallKeys(results=["result:1"]), call)
    STARTED(ClusterLink(), StartedKeys("i", "r", "h", "d"), StartedArgs("t", "p", "1", 0))
    for (count, command), numkeys, last in zip(sent, (18, 5), ("result:1", "d"), strict=True):
        parts = command.split(b"\r\n")[1::2]
        assert count == len(parts) and parts[2] == str(numkeys).encode()
        assert parts[3 + numkeys - 2:3 + numkeys] == [last.encode(), guard.encode()]


def test_an_optional_field_is_left_out_when_none():
    assert STARTED._keys(StartedKeys("i", "r", "h", "d")) == ["i", "r", "h", "d"]
    assert STARTED._keys(StartedKeys("i", "r", "h", "d", attempts="a")) == ["i", "r", "h", "d", "a"]
    assert STARTED._argv(StartedArgs("t", "p", "1", 0)) == ["t", "p", "1", 0]
    assert ENQUEUE._call_keys(EnqueueCallKeys()) == []


def test_a_spec_with_an_optional_field_before_a_required_one_is_refused():
    class Wrong(NamedTuple):
        first: scripts.Maybe[str] = None
        second: str = ""

    with pytest.raises(TypeError, match="optional field is followed"):
        slots(Wrong)
    with pytest.raises(TypeError, match="not a NamedTuple"):
        slots(dict)


def test_enqueue_values_come_in_their_groups():
    with pytest.raises(TypeError, match="plain: 4 values, not groups of 3"):
        ENQUEUE._call_argv(EnqueueCallArgs(n=1, r=0, records_ms="", names="", plain=("q", 9, "w", "x"), records=(),
                                           other=()))


def _fetch_consumer() -> tuple[Any, Any]:
    keys = FetchKeys(*(f"k{i}" for i in range(1, 15)), queues=["q:a"], wakes=["w:a"])
    argv = FetchArgs(nq=1, lease_ms=30000, token_prefix="c.", result_ms="86400000", result_prefix="r:",
                     done_prefix="d:", queue_prefix="q:", wake_prefix="w:", dead_letters_max=10, idle_prefix="i:",
                     inbox_prefix="in:", worker_id="w1", history_backlog=0, queue_names=["a"])
    return keys, argv
