"""System checks: a bad JOBS setting is reported by `manage.py check` and at every command's start,
with the message that says what to change; so is a Redis that would lose tasks (redis_setup.py).
The Redis check is skipped in EAGER mode (tests use no Redis), and costs one short call otherwise."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse

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
def check_shard_placement(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Several shards on a Redis Cluster, two of them on one master (`manage.py jobs shards`): with the
    default KEY_PREFIX on a cluster made by `redis-cli --cluster create`, shards 0 and 1 are. Nothing is
    wrong with the data; the site just spreads less than its SHARDS say, which no one sees otherwise.
    One CLUSTER SLOTS read, only for a sharded site on a Cluster."""
    from .conf import load
    from .engine.api import app as engine_app
    from .inspection import shard_layout, shared_masters

    try:
        config = load()
    except ConfigurationError:
        return []  # check_settings says what is wrong
    if config.eager or config.shards == 1 or engine_app.current().broker.factory.cluster is None:
        return []
    try:
        shared = shared_masters(shard_layout())
    except TRANSIENT:
        return []  # unreachable: check_redis says so (jobs.W001)
    return [Warning(f"JOBS['SHARDS'] is {config.shards}, but shards {', '.join(map(str, held))} are all on the master "
                    f"{master}: they share its CPU.",
                    hint="Put each shard on a master of its own: choose a KEY_PREFIX whose shards' slots fall on "
                    "different masters, or move a slot; `manage.py jobs shards` shows where each is "
                    "(docs/operations.md, Shards on a Cluster).", id="jobs.W012")
            for master, held in shared.items()]


@register("jobs")
def check_metrics_token(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """jobs/metrics (and jobs/health) served in production without JOBS["METRICS_TOKEN"]: only staff
    sessions can read them (probes.py), so a Prometheus scrape or a load balancer's probe gets 401.
    That is the safe default, not an error; but an operator who mounted the views for a scraper
    should hear why it fails before it does. In DEBUG, a staff session in the browser is enough."""
    from .conf import load

    if settings.DEBUG:
        return []
    try:
        if load().metrics_token:
            return []
    except ConfigurationError:
        return []  # check_settings says what is wrong
    if not getattr(settings, "ROOT_URLCONF", None):  # a worker-only project: no URLs, nothing exposed
        return []
    try:
        where = reverse("jobs:metrics")
    except (NoReverseMatch, ImportError, ImproperlyConfigured):
        return []  # jobs.urls not mounted: nothing is exposed (a broken URLconf is Django's own check)
    return [Warning(f"{where} is served with DEBUG off and no JOBS['METRICS_TOKEN']: only staff sessions can "
                    "read it (and jobs/health), so Prometheus and probes get 401.",
                    hint="Set JOBS['METRICS_TOKEN'] to a long random string (python -c \"import secrets; "
                    "print(secrets.token_urlsafe(32))\") and have the scraper send Authorization: Bearer <token>; "
                    "docs/operations.md, Prometheus metrics. Staff-only on purpose: "
                    "SILENCED_SYSTEM_CHECKS = ['jobs.W006'].", id="jobs.W006")]


@register("jobs")
def check_celery_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Each CELERY_* setting still in settings: jobs does not read it, so say what to set instead.
    Its advice (a table of every Celery setting) is imported here, not with the app: a worker starts
    without running checks, and should not load it."""
    from .compat.celery_settings import PREFIXES, advice

    return [Warning(f"settings.{name} is a Celery setting, and jobs does not read it.", hint=advice(name),
                    id="jobs.W010")
            for name in sorted(dir(settings)) if name.startswith(PREFIXES)]


@register("jobs")
def check_outbox_dedup(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The outbox's relay sends rows over two seconds old, and a row its writer sent just before dying
    is sent again then: harmless while Redis remembers the id (SEND_DEDUP_SECONDS). A window shorter
    than a relay's pause after failures (up to 30 s) would let that second send run the task twice."""
    from .conf import load
    from .engine.api import MAX_PAUSE

    try:
        config = load()
    except ConfigurationError:
        return []
    if not config.outbox or config.send_dedup_seconds >= MAX_PAUSE:
        return []
    return [Warning(f"JOBS['OUTBOX'] is on with SEND_DEDUP_SECONDS {config.send_dedup_seconds:g}: a message the "
                    "outbox's relay sends again (its writer died after sending it, before forgetting its row) could "
                    "run twice if the relay gets to it after that long.",
                    hint=f"Keep SEND_DEDUP_SECONDS at {MAX_PAUSE:g} or more (the default is 60); docs/routing.md, "
                    "The outbox.", id="jobs.W011")]
