"""jobs/engine/api.py says where each public name lives twice: in its table (WHERE, what runs) and in
its TYPE_CHECKING block (what mypy reads). A module moved in one and not the other would type-check
against a name that fails at run time, or the reverse; so both are read from the source here, and
must name the same things in the same places, each of which must exist."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

API = Path(__file__).resolve().parent.parent / "jobs" / "engine" / "api.py"


def declared(source: str) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    """(the table, the TYPE_CHECKING block) of api.py's source, each as name -> (module, attribute;
    "" for a module itself)."""
    tree = ast.parse(source)
    table: dict[str, tuple[str, str]] = {}
    typed: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "WHERE":
            table = ast.literal_eval(node.value)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.level == 1, ast.unparse(imp)
                for alias in imp.names:
                    assert alias.asname, f"{ast.unparse(imp)}: a name re-exported needs `as` (mypy --strict)"
                    base = "jobs.engine" + (f".{imp.module}" if imp.module else "")
                    path = API.parent.joinpath(*(base + "." + alias.name).split(".")[2:])
                    if path.with_suffix(".py").exists() or (path / "__init__.py").exists():  # a module
                        typed[alias.asname] = (f"{base}.{alias.name}", "")
                    else:
                        typed[alias.asname] = (base, alias.name)
    return table, typed


def test_the_table_and_the_type_checking_block_agree():
    table, typed = declared(API.read_text())
    assert table and typed
    assert {n: table[n] for n in sorted(set(table) - set(typed))} == {}, "in WHERE, not under TYPE_CHECKING"
    assert {n: typed[n] for n in sorted(set(typed) - set(table))} == {}, "under TYPE_CHECKING, not in WHERE"
    assert {n: (table[n], typed[n]) for n in table if table[n] != typed[n]} == {}


def test_every_name_of_the_table_resolves():
    from jobs.engine import api

    table, _ = declared(API.read_text())
    for name, (module, attribute) in table.items():
        value = importlib.import_module(module)
        if attribute:
            assert hasattr(value, attribute), f"api.{name}: {module} has no {attribute}"
            value = getattr(value, attribute)
        assert getattr(api, name) is value
    assert sorted(api.__all__) == sorted(table)


def test_the_check_finds_a_name_moved_in_one_place_only():
    """A check that finds nothing proves nothing: a made-up api.py whose two halves disagree."""
    source = API.read_text()
    table, typed = declared(source.replace('"Crontab": ("jobs.engine.beat.', '"Crontab": ("jobs.engine.beat.x.'))
    assert table["Crontab"] != typed["Crontab"]
    with pytest.raises(AssertionError, match="needs `as`"):
        declared(source.replace("from .errors import ChordError as ChordError", "from .errors import ChordError"))
