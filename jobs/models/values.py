"""The values a periodic task's row holds, checked where they come in: by the models' save(), the
admin's forms, beat reading a row, the settings sync and the import from django-celery-beat alike.

A module of its own because the schedules and the periodic tasks use them, and so does every other
reader or writer of a row (the admin's form, beat's store, the import) through json_value; the
migrations name two of them as `jobs.models.validate_name` and `jobs.models.default_timezone`.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from ..engine import api as engine_api  # its periodic (beat's schedules) loads when first used: never in a worker
from ..engine.api import ScheduleError, check_name


def zone_key(value: Any) -> Any:
    """A time zone object as the IANA name it stands for (django-celery-beat's timezone field holds
    ZoneInfo objects, so ported code passes them); anything else is left for the checks to judge."""
    if not isinstance(value, dt.tzinfo):
        return value
    try:
        return engine_api.periodic.zone_name(value)
    except ScheduleError as exc:
        raise ValueError(str(exc)) from exc


def default_timezone() -> str:
    jobs = getattr(settings, "JOBS", {}) or {}
    return jobs.get("TIMEZONE") or settings.TIME_ZONE or "UTC"


def validate_name(value: str) -> None:
    """Task and queue names travel in a message's plain-text header and in Redis keys: a name with a
    '|' or a space would break the message (config.check_name)."""
    check_name("this name", value, ValidationError)


def json_value(value: Any, kind: type, field: str) -> Any:
    """args/kwargs as JSON data: django-celery-beat stores them as JSON text ('["a", 1]'), which is
    read here; what is neither the right JSON type nor text holding it is refused, naming the field.
    So is what JSON cannot carry: NaN and Infinity (Python's json reads and writes them, but they are
    not JSON, and the database refuses the row: an IntegrityError on SQLite, a DataError on
    PostgreSQL, a 500 in the admin), and values json cannot encode at all."""
    what = "list" if kind is list else "object"
    if isinstance(value, str):
        try:
            value = json.loads(value, parse_constant=_not_json) if value.strip() else kind()
        except ValueError as exc:
            raise ValidationError({field: f"{field} is text that is not JSON ({exc}): give a JSON {what}"}) from exc
    if value is None:
        value = kind()
    if kind is list and isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, kind):
        example = '[1, "a"]' if kind is list else '{"a": 1}'
        raise ValidationError({field: f"{field} must be a JSON {what}, e.g. {example}, not {type(value).__name__}"})
    try:
        json.dumps(value, allow_nan=False)
    except (ValueError, TypeError, RecursionError) as exc:  # NaN, Infinity; a set; a list that holds itself
        said = ("NaN and Infinity are not JSON numbers: send them as text (\"NaN\") or leave them out"
                if "float" in str(exc) else f"give a JSON {what} of lists, objects, text, numbers, true, false, null")
        raise ValidationError({field: f"{field} holds a value JSON cannot carry ({exc}); {said}"}) from exc
    return value


def _not_json(constant: str) -> Any:
    """json.loads's reading of NaN, Infinity and -Infinity: refused (see json_value)."""
    raise ValueError(f"{constant} is not a JSON number")
