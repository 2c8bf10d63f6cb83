"""The numeric flags of the management commands, checked by the rule every number follows (engine/bounds.py).

argparse's `type=float` takes "nan", "inf" and "1e300", and `type=int` any number of digits: such a
flag then failed deep inside a command with a traceback. A flag's type here refuses it while the
command line is parsed: `manage.py jobs prune --days nan` says "argument --days: must be a number of
days from 0 to 3650, not 'nan'" (a CommandError under call_command), and nothing runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from jobs.engine.api import NUMBERS, bounds


def _flag(kind: type, low: float, high: float, unit: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
            if kind is int:
                return bounds.integer(value, "", low=int(low), high=int(high))
            return bounds.real(value, "", low=low, high=high, unit=unit)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"must be {bounds.describe(low, high, False, unit)}, "
                                             f"not {bounds.shown(text)}") from None
    return parse


def integer(low: int, high: int) -> Callable[[str], int]:
    return _flag(int, low, high, "an int")


def real(low: float, high: float, unit: str) -> Callable[[str], float]:
    return _flag(float, low, high, unit)


def like_setting(name: str) -> Callable[[str], Any]:
    """The type of a flag that overrides a JOBS setting: the setting's own range (setup/number_settings.py NUMBERS)."""
    spec = NUMBERS[name]
    assert not spec.above, "a flag's range is closed"
    return real(spec.low, spec.high, "a number of seconds") if spec.seconds else integer(int(spec.low), int(spec.high))
