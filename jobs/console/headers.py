"""The console's security headers, on every page, fragment, confirm page and action answer: a
Content-Security-Policy that refuses inline script (so a value that escaped its escaping still
cannot run: the console's own script is static/jobs/console.js, and it has no inline style either),
and nosniff and a same-origin referrer, which Django's SecurityMiddleware would add but a site may
not have installed.

A site that set its own policy keeps it: Django 6's SECURE_CSP (with its middleware) or
django-csp's middleware apply theirs to the whole site, and so to these pages. docs/security.md says
what the console's policy needs, for such a site."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpResponseBase

#: Middleware that writes a site-wide policy; with one of them installed (and, for Django's own,
#: SECURE_CSP set), the site's policy is the one these pages get.
SITE_POLICIES = {"django.middleware.csp.ContentSecurityPolicyMiddleware": "SECURE_CSP",
                 "csp.middleware.CSPMiddleware": ""}

HEADER = "Content-Security-Policy"

P = ParamSpec("P")
R = TypeVar("R", bound=HttpResponseBase)


def _static_origin() -> str:
    """Where the static files are served from when not from this site (a CDN in STATIC_URL): the
    admin's and the console's scripts and styles come from there, so the policy allows it."""
    url = urlsplit(str(getattr(settings, "STATIC_URL", "") or ""))
    if not url.netloc:
        return ""
    return f"{url.scheme}://{url.netloc}" if url.scheme else f"https://{url.netloc}"


def policy() -> str:
    """Script and style from this site (or its static host) only, nothing inline, no plugins, no
    <base> elsewhere, forms posted here only, and framed as X_FRAME_OPTIONS allows (frame-ancestors
    wins over X-Frame-Options in browsers, so it must not be looser)."""
    own = " ".join(filter(None, ["'self'", _static_origin()]))
    framing = "'self'" if str(getattr(settings, "X_FRAME_OPTIONS", "DENY")).upper() == "SAMEORIGIN" else "'none'"
    return (f"default-src 'self'; script-src {own}; style-src {own}; img-src {own} data:; font-src {own}; "
            f"connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
            f"frame-ancestors {framing}")


def site_has_policy() -> bool:
    middleware = getattr(settings, "MIDDLEWARE", None) or ()
    return any(name in middleware and (not setting or getattr(settings, setting, None))
               for name, setting in SITE_POLICIES.items())


def secure(response: R) -> R:
    """The headers, where the site has not set its own."""
    if HEADER not in response and not site_has_policy():
        response[HEADER] = policy()
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def secured(view: Callable[P, R]) -> Callable[P, R]:
    """A view whose every answer has the headers (its login redirect and errors too)."""

    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        return secure(view(*args, **kwargs))

    return wrapped
