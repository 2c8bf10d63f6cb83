"""Prints the docs' tables of Celery settings from jobs/celery_settings.py, the mapping the system
check jobs.W010 uses, and puts them in the docs between their markers, so what the docs say about a
CELERY_* setting is what `manage.py check` says:

    python scripts/celery_settings_table.py            # print both tables
    python scripts/celery_settings_table.py --write    # rewrite them in docs/
    python scripts/celery_settings_table.py --check    # exit 1 if a doc's table is not the one printed
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jobs.compat.celery_settings import markdown_summary, markdown_table  # noqa: E402

COMMAND = "python scripts/celery_settings_table.py --write"

#: doc -> (marker, what goes between `<!-- marker:start -->` and `<!-- marker:end -->`).
TABLES: dict[str, tuple[str, Callable[[], str]]] = {
    "docs/settings.md": ("celery-settings-table", markdown_table),
    "docs/from-celery.md": ("celery-settings-summary", markdown_summary),
}


def split(text: str, marker: str) -> tuple[str, str, str]:
    """The text before the block (its start marker included), the block, and the rest."""
    start, end = f"<!-- {marker}:start -->\n", f"<!-- {marker}:end -->"
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise SystemExit(f"expected one {start.strip()} ... {end} in the doc")
    head, rest = text.split(start)
    block, tail = rest.split(end)
    return head + start, block, end + tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="rewrite the tables in the docs")
    parser.add_argument("--check", action="store_true", help="exit 1 if a doc's table differs")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="where docs/ is (default: this checkout)")
    args = parser.parse_args(argv)
    stale = []
    for doc, (marker, render) in TABLES.items():
        path = args.root / doc
        head, block, tail = split(path.read_text(), marker)
        if not (args.write or args.check):
            print(f"{doc}:\n\n{render()}")
        elif block != render():
            stale.append(doc)
            if args.write:
                path.write_text(head + render() + tail)
    if args.check and stale:
        print(f"{', '.join(stale)}: the Celery settings table is not the one jobs/celery_settings.py gives; "
              f"run `{COMMAND}`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
