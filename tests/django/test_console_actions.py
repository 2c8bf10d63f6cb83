"""Control actions in one place (issue 24): the console and the CLI change Redis only through
jobs.control and read it only through jobs.inspection (or control's re-exports of it), never through
the broker; and every row of the console's table of actions acts through jobs.control. Checked on the
source, as tests/test_structure.py checks the layout."""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

from jobs.console.actions import ACTIONS, SWEEPS

ROOT = Path(__file__).resolve().parent.parent.parent
CALLERS = [ROOT / "jobs" / "console", ROOT / "jobs" / "management"]


def broker_reached(source: str, filename: str = "<source>") -> list[str]:
    """Where `source` reads `.broker` or makes its own Monitor (which takes the broker): a line each."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Attribute) and node.attr == "broker":
            found.append(f"{filename}:{node.lineno} .broker")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Monitor":
            found.append(f"{filename}:{node.lineno} Monitor(...)")
    return found


def test_the_console_and_the_cli_never_reach_the_broker():
    offenders = []
    for folder in CALLERS:
        for path in sorted(folder.rglob("*.py")):
            offenders += broker_reached(path.read_text(), str(path.relative_to(ROOT)))
    assert offenders == [], "act through jobs.control, read through jobs.inspection"


def test_every_action_acts_through_control():
    for name, action in ACTIONS.items():
        if action.do is None:
            assert name in SWEEPS, f"{name}: a row with no `do` must be a sweep (control.sweep_scheduled)"
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(action.do)))
        called = {node.value.id for node in ast.walk(tree)
                  if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)}
        assert "control" in called, f"{name}: {action.do.__name__} does not call jobs.control"
        assert action.permission == "jobs.operate_console", f"{name}: every console action needs operate_console"


def test_the_check_finds_what_it_looks_for():
    """A check that finds nothing proves nothing: made-up sources that reach the broker."""
    assert broker_reached("current().broker.dead.count()") == ["<source>:1 .broker"]
    assert broker_reached("from x import Monitor\nMonitor(app).queues()") == ["<source>:2 Monitor(...)"]
    assert broker_reached("inspection.monitor().queues()") == []
