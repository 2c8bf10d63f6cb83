"""The ported project is a project root of its own (its apps are `proj` and `shop`, as in the Celery
original, so task names and routes are copied as they are), and its files are not tests."""

import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent / "project"

collect_ignore = ["project", "celery_original"]

if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))
