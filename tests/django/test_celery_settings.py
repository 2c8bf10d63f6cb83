"""Leftover CELERY_* settings: jobs reads none of them, and `manage.py check` says so for each, with
the JOBS key to set instead, so a half-migrated project cannot quietly run against the wrong Redis or
with eager mode off."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from django.core.checks import run_checks
from django.test import override_settings

from jobs.compat.celery_settings import CELERY_SETTINGS

ROOT = Path(__file__).resolve().parent.parent.parent


def celery_warnings() -> dict[str, str]:
    return {m.msg.split()[0].removeprefix("settings."): m.hint for m in run_checks(tags=["jobs"])
            if m.id == "jobs.W010"}


@override_settings(CELERY_BROKER_URL="redis://elsewhere:6379/0", CELERY_TASK_ALWAYS_EAGER=True,
                   CELERY_RESULT_BACKEND="django-db", CELERY_FLOWER_THING=1, CELERYD_CONCURRENCY=4)
def test_each_leftover_celery_setting_is_a_warning_that_says_what_to_set():
    found = celery_warnings()
    assert found["CELERY_BROKER_URL"].startswith("Set JOBS['BROKER_URL'] instead")
    assert found["CELERY_TASK_ALWAYS_EAGER"] == "Set JOBS['EAGER'] instead."
    assert "JOBS['HISTORY']" in found["CELERY_RESULT_BACKEND"] and "no setting" in found["CELERY_RESULT_BACKEND"]
    assert "no equivalent" in found["CELERY_FLOWER_THING"]
    assert found["CELERYD_CONCURRENCY"] == "Set JOBS['WORKER_CONCURRENCY'] instead."  # Celery 3's names too


def test_no_warning_without_celery_settings():
    assert celery_warnings() == {}


def test_manage_py_check_shows_them_as_a_user_sees_them(tmp_path):
    (tmp_path / "celery_left.py").write_text("from tests.settings import *\nCELERY_BROKER_URL = 'redis://x:1/0'\n")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "celery_left",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]), "JOBS_TEST_SETTINGS": '{"EAGER": true}'}
    done = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert "(jobs.W010) settings.CELERY_BROKER_URL is a Celery setting, and jobs does not read it." in done.stderr
    assert "Set JOBS['BROKER_URL'] instead" in done.stderr


def test_every_celery_setting_the_docs_name_is_known_to_the_check():
    named = set(re.findall(r"`(CELERY(?:D|BEAT)?_[A-Z_]+)`", (ROOT / "docs" / "settings.md").read_text()))
    assert named and named <= set(CELERY_SETTINGS), sorted(named - set(CELERY_SETTINGS))


TABLES = ["docs/settings.md", "docs/from-celery.md"]


def tables_script(*args: str, root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "scripts/celery_settings_table.py", *args, "--root", str(root)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_the_docs_tables_are_the_ones_the_checks_mapping_prints():
    done = tables_script("--check")
    assert done.returncode == 0, done.stderr  # it says which doc, and to run scripts/celery_settings_table.py --write


def test_a_table_edited_by_hand_fails_the_check_until_it_is_written_again(tmp_path):
    (tmp_path / "docs").mkdir()
    for doc in TABLES:
        (tmp_path / doc).write_text((ROOT / doc).read_text())
    edited = tmp_path / "docs" / "settings.md"
    edited.write_text(edited.read_text().replace("| `ACKS_LATE` | `True` by default here.", "| `ACKS_LATE` | Same."))
    stale = tables_script("--check", root=tmp_path)
    assert stale.returncode == 1 and stale.stderr.startswith("docs/settings.md: ")
    assert "run `python scripts/celery_settings_table.py --write`" in stale.stderr
    assert tables_script("--write", root=tmp_path).returncode == 0
    assert tables_script("--check", root=tmp_path).returncode == 0
    assert [(tmp_path / doc).read_text() for doc in TABLES] == [(ROOT / doc).read_text() for doc in TABLES]


def test_every_row_of_the_table_says_what_the_check_says():
    """The check's hint and the table's row come from one Setting: its note is in both."""
    table = (ROOT / "docs" / "settings.md").read_text()
    for name, setting in CELERY_SETTINGS.items():
        row = next(line for line in table.splitlines() if f"`{name}`" in line and line.startswith("| "))
        assert (f"`{setting.key}`" if setting.key else "none") in row or setting.instead in row, name
        assert setting.note[1:] in row, name
