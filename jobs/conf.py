"""JOBS settings → the engine's Config.

    JOBS = {"BROKER_URL": "redis://127.0.0.1:6379/0"}   # or {"REDIS_CACHE": "default"}

Each key is the upper-case name of a Config field (see docs/settings.md); an unknown key is an
error that lists the known ones, so a typo is never silently ignored. The broker URL defaults to the
JOBS_BROKER_URL environment variable, then to redis://127.0.0.1:6379/0. REDIS_CACHE names a cache
alias in CACHES (django-redis or Django's own Redis cache) whose LOCATION and password are reused,
so Redis is configured once.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils.crypto import salted_hmac

from .engine.api import DEFAULT_BROKER_URL, NUMBERS, Config, ConfigurationError, check_number

_FIELDS = {f.name.upper(): f for f in dataclasses.fields(Config)}
SPECIAL = {"REDIS_CACHE"}
KNOWN = sorted(set(_FIELDS) | SPECIAL)


def load() -> Config:
    raw: Any = getattr(settings, "JOBS", {}) or {}
    if not isinstance(raw, dict):
        raise ConfigurationError(f"settings.JOBS must be a dict, not {type(raw).__name__}")
    unknown = sorted(set(raw) - set(KNOWN))
    if unknown:
        raise ConfigurationError(
            f"settings.JOBS has unknown key(s) {', '.join(unknown)}; known keys: {', '.join(KNOWN)}"
        )
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in SPECIAL:
            continue
        values[key.lower()] = _coerce(key, value)
    if "REDIS_CACHE" in raw:
        if "BROKER_URL" in raw:
            raise ConfigurationError("settings.JOBS has both BROKER_URL and REDIS_CACHE; keep one")
        url, options = from_cache(raw["REDIS_CACHE"])
        values["broker_url"] = url
        values["broker_options"] = {**options, **values.get("broker_options", {})}
    values.setdefault("broker_url", os.environ.get("JOBS_BROKER_URL") or DEFAULT_BROKER_URL)
    values["timezone"] = values.get("timezone") or getattr(settings, "TIME_ZONE", None) or "UTC"
    if "SIGNING_KEYS" not in raw:
        values["signing_keys"] = derived_signing_keys()
    return Config(**values)


#: The salt of the keys derived from SECRET_KEY: they sign nothing else than jobs' messages.
SIGNING_SALT = "jobs.engine.wire.signing"


def derived_signing_keys() -> tuple[bytes, ...]:
    """JOBS["SIGNING_KEYS"] unless set: a key derived from SECRET_KEY (as django.core.signing does,
    with a salt of its own), then one from each of SECRET_KEY_FALLBACKS, so that rotating Django's
    secret the documented way rotates these keys too, and every process of a site has them."""
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return tuple(salted_hmac(SIGNING_SALT, "messages", secret=secret, algorithm="sha256").digest()
                 for secret in secrets)


def _signing_keys(key: str, value: Any) -> Any:
    """Keys as given (str is UTF-8), the first to sign with; Config checks their length."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, (str, bytes)) for v in value):
        raise ConfigurationError("JOBS['SIGNING_KEYS'] must be a list of keys (str or bytes), the one to sign with "
                                 "first, or [] not to sign")
    return tuple(v.encode("utf-8") if isinstance(v, str) else v for v in value)


def _number(key: str, value: Any) -> Any:
    """Every numeric key by one rule (engine/setup/number_settings.py NUMBERS, engine/bounds.py)."""
    return check_number(key.lower(), value)


def _content_types(key: str, value: Any) -> Any:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError("JOBS['ACCEPT_CONTENT'] must be a list of content type names, e.g. ['json']")
    return tuple(value)


def _names(key: str, value: Any) -> Any:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigurationError(f"JOBS[{key!r}] must be a list of parameter names (or parts of names), "
                                 "e.g. ['password', 'token']")
    return tuple(v.strip() for v in value)


def _dict(what: str) -> Callable[[str, Any], Any]:
    def check(key: str, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ConfigurationError(f"JOBS[{key!r}] must be {what}")
        return value
    return check


#: Keys whose values need more than a type check: turned into what Config takes, or refused.
_SPECIAL: dict[str, Callable[[str, Any], Any]] = {
    **{key.upper(): _number for key in NUMBERS},
    "ACCEPT_CONTENT": _content_types,
    "REDACT": _names,
    "SIGNING_KEYS": _signing_keys,
    "BEAT_SCHEDULE": _dict("a dict: name -> {'task': ..., 'schedule': ...}"),
    "BROKER_OPTIONS": _dict("a dict of redis-py connection options"),
}
_TYPES = {"bool": (bool, "True or False"), "str": (str, "a string"), "int": (int, "an integer")}


def _coerce(key: str, value: Any) -> Any:
    special = _SPECIAL.get(key)
    if special is not None:
        return special(key, value)
    expected = _TYPES.get(str(_FIELDS[key].type))
    if expected is not None:
        kind, what = expected
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigurationError(f"JOBS[{key!r}] must be {what}, not {value!r}")
    return value


def from_cache(alias: str) -> tuple[str, dict[str, Any]]:
    caches = getattr(settings, "CACHES", {})
    if alias not in caches:
        raise ConfigurationError(
            f"JOBS['REDIS_CACHE'] is {alias!r} but CACHES has no such alias (it has: {', '.join(caches) or 'none'})"
        )
    cache = caches[alias]
    backend = cache.get("BACKEND", "")
    if "redis" not in backend.lower():
        raise ConfigurationError(
            f"JOBS['REDIS_CACHE'] is {alias!r}, whose BACKEND {backend!r} is not a Redis cache; "
            "use django_redis.cache.RedisCache or django.core.cache.backends.redis.RedisCache"
        )
    location = cache.get("LOCATION")
    if isinstance(location, (list, tuple)):
        location = location[0]  # the first server is the primary (writes go there)
    if isinstance(location, str) and "," in location:
        location = location.split(",")[0].strip()
    if not location:
        raise ConfigurationError(f"CACHES[{alias!r}] has no LOCATION to take the Redis URL from")
    options = dict(cache.get("OPTIONS", {}))
    pool_options: dict[str, Any] = dict(options.get("CONNECTION_POOL_KWARGS", {}))
    if options.get("PASSWORD"):  # django-redis
        pool_options["password"] = options["PASSWORD"]
    if options.get("password"):  # Django's own RedisCache passes lower-case OPTIONS to redis-py
        pool_options["password"] = options["password"]
    for name in ("SOCKET_CONNECT_TIMEOUT", "SOCKET_TIMEOUT"):
        if name in options:
            pool_options[name.lower()] = options[name]
    return location, pool_options
