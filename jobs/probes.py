"""The views of jobs.urls, for probes and scrapers (health, metrics): read-only. Staff (the admin's own
login) or the bearer token of JOBS["METRICS_TOKEN"]; without either, 401, and nothing about the
deployment. No token set (the default): staff only, whatever DEBUG says, and checks.py warns
(jobs.W006) that a scraper cannot read them. (Not views.py: the console's pages are
jobs/console/views.py.)"""

from __future__ import annotations

import dataclasses
import hmac
import time

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from . import inspection
from .engine.api import TRANSIENT, as_json, current, exposition
from .readiness import check


def allowed(request: HttpRequest) -> bool:
    """Active staff, or the bearer token (compared in constant time; no token set: staff only)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    token = current().config.metrics_token
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def refused() -> HttpResponse:
    response = JsonResponse({"error": "staff, or Authorization: Bearer <JOBS['METRICS_TOKEN']>"}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="jobs"'
    return response


@never_cache
@require_safe
def health(request: HttpRequest) -> HttpResponse:
    """Readiness as JSON (engine/ops/health.py): 200 when every check passes, else 503."""
    if not allowed(request):
        return refused()
    document = as_json(check())
    return JsonResponse(document, status=200 if document["ok"] else 503)


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus text format (engine/ops/metrics.py), read from Redis now: every web process answers
    the same. 503 while Redis cannot be read (the scrape shows as failed, not as zeros)."""
    if not allowed(request):
        return refused()
    try:
        snapshot = inspection.monitor().metrics()
        app = current()
        if app.config.outbox and app.outbox is not None:
            try:  # the outbox is in the database: read with the scrape, or left out if it cannot be read
                snapshot = dataclasses.replace(snapshot, outbox=app.outbox.backlog(), now=time.time())
            except DatabaseError:
                pass
        text = exposition(snapshot)
    except TRANSIENT as exc:
        return HttpResponse(f"Redis cannot be read: {exc}\n", status=503, content_type="text/plain; charset=utf-8")
    return HttpResponse(text, content_type="text/plain; version=0.0.4; charset=utf-8")
