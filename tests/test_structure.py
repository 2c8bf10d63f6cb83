"""The layout's promises, checked on the source: no import cycles in jobs/; no Django in the engine;
no imports hidden inside functions of the engine (but for a reason given beside them); and every
Redis call in engine/redis/ (the broker and its parts, reads.py for the monitor; connection.py and
scripts.py, which they use, speak the protocol)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "jobs"
REDIS_SPEAKERS = {"jobs.engine.redis.broker", "jobs.engine.redis.connection", "jobs.engine.redis.scripts"}


def modules() -> dict[str, tuple[Path, ast.Module]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = (path, ast.parse(path.read_text(), str(path)))
    return found


def imported(name: str, path: Path, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The modules of jobs that an import statement of module `name` reaches."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join(package + ([base] if base else []))
        targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
    out = set()
    for target in targets:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    edges: dict[str, set[str]] = {name: set() for name in found}
    for name, (path, tree) in found.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges[name] |= imported(name, path, node, known)
    # A package's __init__ runs before its modules: importing a.b imports a too. That arrow is not
    # a cycle of the code's own making, unless the package face itself imports back.
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_in_jobs():
    assert cycles(graph()) == []


def test_the_engine_does_not_import_django():
    offenders = []
    for name, (path, tree) in modules().items():
        if not name.startswith("jobs.engine"):
            continue
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno}" for n in names if n.split(".")[0] == "django"]
    assert offenders == []


def test_no_import_inside_a_function_of_the_engine_without_a_reason():
    offenders = []
    for name, (path, tree) in modules().items():
        if not name.startswith("jobs.engine"):
            continue
        lines = path.read_text().splitlines()
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and "#" not in lines[node.lineno - 1]:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def _last_name(node: ast.AST) -> str:
    """`options` for `message.options`, `options` for `options`: the name an attribute is read from."""
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def test_redis_is_called_only_by_the_broker():
    offenders = []
    for name, (path, tree) in modules().items():
        if name in REDIS_SPEAKERS or name.startswith("jobs.engine.redis."):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("call", "call_packed", "pipeline", "link"):
                if node.attr == "link" and _last_name(node.value) in ("options", "workflow"):
                    continue  # a call's `link` option (Celery's callbacks), not a connection
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules_named = ([a.name for a in node.names] if isinstance(node, ast.Import)
                                 else [node.module or ""] if not node.level else [])  # not engine/redis/
                offenders += [f"{path.relative_to(ROOT)}:{node.lineno} imports {m}" for m in modules_named
                              if m.split(".")[0] == "redis"]
    assert offenders == []


def test_the_checks_find_what_they_look_for():
    """Each check, on a made-up tree, finds what it must (a check that finds nothing proves nothing)."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
