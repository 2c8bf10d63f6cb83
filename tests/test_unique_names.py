"""One name, one thing: no two modules of jobs/ share a file name, and no two classes share a name.

A reader (or a traceback, a log line, a grep) that meets `periodic.py` or `DatabaseStore` must not
have to ask which one. Left out, by convention: `__init__.py` (a package's face), the migrations
(Django numbers them), Django's `Meta` (a model's or a form's options, inside its class), and the
class Django's conventions fix the name of: `Command` (each management command).
"""

from __future__ import annotations

import ast
from collections import defaultdict

from tests.test_structure import modules

#: File names every package may have.
SHARED_FILES = {"__init__.py"}
#: Class names Django fixes: a management command's class is Command.
SHARED_CLASSES = {"Command"}


def _classes(tree: ast.Module) -> list[str]:
    """Every class a module defines, nested ones too, but a class's Meta."""
    metas = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
             for inner in node.body if isinstance(inner, ast.ClassDef) and inner.name == "Meta"}
    return [node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef) and id(node) not in metas]


def test_no_two_modules_share_a_file_name():
    where: dict[str, list[str]] = defaultdict(list)
    for name, (path, _) in modules().items():
        if path.name not in SHARED_FILES:
            where[path.name].append(name)
    assert {file: names for file, names in where.items() if len(names) > 1} == {}


def test_no_two_classes_share_a_name():
    where: dict[str, list[str]] = defaultdict(list)
    for name, (_, tree) in modules().items():
        for cls in _classes(tree):
            if cls not in SHARED_CLASSES:
                where[cls].append(name)
    assert {cls: names for cls, names in where.items() if len(names) > 1} == {}


def test_the_checks_find_what_they_look_for():
    tree = ast.parse("class A:\n    class Meta: ...\n    class B: ...\nclass B: ...\ndef f():\n    class C: ...\n"
                     "class Meta: ...\n")
    assert sorted(_classes(tree)) == ["A", "B", "B", "C", "Meta"]
    assert "jobs.engine.wire.message" in modules() and "jobs.migrations.0001_initial" not in modules()
