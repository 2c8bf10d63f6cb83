"""The layers of jobs, checked on the source (docs/architecture.md draws them):

    errors, version, bounds, many  <  wire  <  redis  <  tracing, logs  <  setup  <  execution
    <  send  <  ops  <  worker, beat  <  api  <  the Django side (jobs/*, outside jobs/engine/)

- no module imports one of a higher layer (typing-only imports included: a dependency on paper is one
  in the design), so each folder can be read knowing only those below it;
- the Django side takes the engine through jobs.engine.api alone;
- a web process that imports jobs and sends tasks (eager mode too) never imports the worker.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.test_structure import imported, modules

ROOT = Path(__file__).resolve().parent.parent

#: Bottom first. A module's layer is that of its folder under jobs/engine/, or its own name there.
LAYERS: list[set[str]] = [
    {"errors", "version", "bounds", "many"},
    {"wire"},
    {"redis"},
    {"tracing", "logs"},
    {"setup"},
    {"execution"},
    {"send"},
    {"ops"},
    {"worker", "beat"},
    {"api"},
]


def layer(module: str) -> int:
    """Index in LAYERS; the Django side is above them all; the engine's __init__ below."""
    parts = module.split(".")
    if parts[:2] != ["jobs", "engine"]:
        return len(LAYERS)
    if len(parts) == 2:
        return -1
    for index, names in enumerate(LAYERS):
        if parts[2] in names:
            return index
    raise AssertionError(f"{module}: in no layer of tests/test_layers.py; place it there and in docs/architecture.md")


def edges() -> list[tuple[str, str, int]]:
    found = modules()
    known = set(found)
    out = []
    for name, (path, tree) in found.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                out += [(name, target, node.lineno) for target in imported(name, path, node, known)]
    return out


def test_every_engine_module_has_a_layer():
    for name in modules():
        layer(name)


def test_no_module_imports_a_higher_layer():
    upward = [f"{a} ({layer(a)}) -> {b} ({layer(b)}), line {line}" for a, b, line in edges()
              if layer(b) > layer(a) and b != "jobs.engine"]
    assert upward == []


def test_the_django_side_takes_the_engine_through_its_api_alone():
    reached = sorted({f"{a} -> {b}" for a, b, _ in edges()
                      if not a.startswith("jobs.engine") and b.startswith("jobs.engine")
                      and b not in ("jobs.engine", "jobs.engine.api")})
    assert reached == []


def test_a_web_process_never_imports_the_worker():
    """Django set up, tasks sent (to Redis, at commit, and eager), results read: nothing of
    jobs.engine.worker in sys.modules. Its own process, so that no other test's import counts."""
    code = """
import json, sys
import django
django.setup()
from django.db import connection
from django.test.utils import setup_test_environment
from django.test.utils import override_settings
import jobs
from jobs import group
from tests.testapp import tasks
tasks.add.delay(1, 2)
tasks.add.apply_async((1, 2), countdown=30)
group(tasks.add.s(1, 2), tasks.add.s(3, 4)).delay()
with override_settings(JOBS={"EAGER": True}):
    assert tasks.add.delay(2, 3).get() == 5
    assert (tasks.add.s(1, 2) | tasks.add.s(3)).delay().get() == 6
print(json.dumps(sorted(m for m in sys.modules if m.startswith("jobs.engine"))))
"""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert "jobs.engine.send.producer" in loaded and "jobs.engine.execution.execute" in loaded  # it ran them
    assert [m for m in loaded if m.startswith("jobs.engine.worker")] == []


def test_the_architecture_page_is_up_to_date():
    """docs/architecture.md's generated part is what scripts/architecture.py writes from the code now
    (the script also refuses two folders that import each other)."""
    out = subprocess.run([sys.executable, "scripts/architecture.py", "--check"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr + out.stdout


def test_the_checks_find_what_they_look_for():
    assert layer("jobs.engine.wire.message") < layer("jobs.engine.redis.broker") < layer("jobs.engine.worker.pools")
    assert layer("jobs.admin") == len(LAYERS)
