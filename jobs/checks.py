"""System checks: a bad JOBS setting is reported by `manage.py check` and at every command's start,
with the message that says what to change; so is a Redis that would lose tasks (redis_setup.py).
The Redis check is skipped in EAGER mode (tests use no Redis), and costs one short call otherwise."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from .engine.api import TRANSIENT, ConfigurationError, probe_tls, tls_failure
from .engine.api import redact_url as redact


@register("jobs")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from .conf import load

    try:
        load()
    except ConfigurationError as exc:
        return [Error(str(exc), hint="See docs/settings.md for every JOBS key.", id="jobs.E001")]
    return []


@register("jobs")
def check_redis(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from .conf import load
    from .engine.api import Monitor
    from .engine.api import app as engine_app

    try:
        config = load()
    except ConfigurationError:
        return []  # check_settings says what is wrong
    if config.eager:
        return []
    try:
        found = Monitor(engine_app.current().broker).setup_findings(config.allow_eviction, timeout=1.0)
    except TRANSIENT as exc:
        problem = tls_failure(exc) or probe_tls(engine_app.current().broker.factory)  # a TLS setting to fix
        hint = (f"TLS: {problem} (docs/operations.md, TLS)." if problem
                else "Is it running, and is JOBS['BROKER_URL'] right?")
        return [Warning(f"Redis at {redact(config.broker_url)} could not be reached to check its setup ({exc}).",
                        hint=hint, id="jobs.W001")]
    return [(Error if f.level == "error" else Warning)(f.message, hint=f.hint, id=f.id) for f in found]


@register("jobs")
def check_celery_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Each CELERY_* setting still in settings: jobs does not read it, so say what to set instead.
    Its advice (a table of every Celery setting) is imported here, not with the app: a worker starts
    without running checks, and should not load it."""
    from .compat.celery_settings import PREFIXES, advice

    return [Warning(f"settings.{name} is a Celery setting, and jobs does not read it.", hint=advice(name),
                    id="jobs.W010")
            for name in sorted(dir(settings)) if name.startswith(PREFIXES)]
