"""Typed tasks, checked by mypy as a user's code would be: tests/typing/sample_ok.py must pass
`mypy --strict`, and each mistake in tests/typing/sample_mistakes.py must be reported as its line
says (`# error: <code>`), with no error on any other line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent / "typing"
#: mypy's error line: path:line: error: message  [code]
ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")
EXPECTED = re.compile(r"# error: (?P<code>[a-z-]+)$")


def mypy(path: Path, tmp_path: Path) -> tuple[int, list[str]]:
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n")  # not the project's (its Django plugin): as a user's project sees jobs
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--config-file", str(config),
         "--cache-dir", str(tmp_path / "cache"), "--no-error-summary", "--show-error-codes", str(path)],
        capture_output=True, text=True, timeout=600)
    assert "Traceback" not in run.stderr, run.stderr
    return run.returncode, [line for line in run.stdout.splitlines() if ": error: " in line]


@pytest.mark.slow
def test_typed_tasks_type_check(tmp_path: Path) -> None:
    code, errors = mypy(HERE / "sample_ok.py", tmp_path)
    assert errors == [] and code == 0, "\n".join(errors)


@pytest.mark.slow
def test_mistakes_in_calls_of_typed_tasks_are_found(tmp_path: Path) -> None:
    source = (HERE / "sample_mistakes.py").read_text().splitlines()
    expected = {(n, m["code"]) for n, text in enumerate(source, 1) if (m := EXPECTED.search(text))}
    assert len(expected) >= 10  # the file holds what it says
    code, errors = mypy(HERE / "sample_mistakes.py", tmp_path)
    found = set()
    for line in errors:
        match = ERROR.match(line)
        assert match, f"not an error line mypy writes: {line}"
        found.add((int(match["line"]), match["code"]))
    assert code == 1
    assert found == expected, (f"missed: {sorted(expected - found)}; not expected: {sorted(found - expected)}\n"
                               + "\n".join(errors))
