"""System checks: a bad JOBS setting is reported by `manage.py check` and at every command's start,
with the message that says what to change."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register

from .engine.errors import ConfigurationError


@register("jobs")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    from .conf import load

    try:
        load()
    except ConfigurationError as exc:
        return [Error(str(exc), hint="See docs/settings.md for every JOBS key.", id="jobs.E001")]
    return []
