"""The console's security headers (jobs/console/headers.py): every page, fragment, confirm page, action
answer and login redirect has a Content-Security-Policy without 'unsafe-inline' for scripts, nosniff
and a same-origin referrer; a site's own policy (Django 6's SECURE_CSP, django-csp) is left alone; and
no console template has an inline script, style or handler for the policy to refuse. A browser
refusing an injected script under it: tests/acceptance/test_security_browser.py."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import reverse

from jobs.console import headers
from tests.django.test_console import act, urls, user

pytestmark = pytest.mark.django_db

TEMPLATES = Path(headers.__file__).resolve().parent.parent / "templates" / "admin" / "jobs" / "console"


def directives(response: HttpResponse) -> dict[str, str]:
    value = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.partition(" ")[2] for part in (p.strip() for p in value.split(";")) if part}


def assert_secured(response: HttpResponse) -> None:
    policy = directives(response)
    assert policy["script-src"] == "'self'", policy
    assert "unsafe" not in response.headers["Content-Security-Policy"]
    assert policy["object-src"] == "'none'" and policy["base-uri"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"  # X_FRAME_OPTIONS is DENY by default
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_every_page_and_fragment_sends_the_headers(r):
    viewer = user("view_console", name="viewer")
    for url in urls():
        response = viewer.get(url)
        assert response.status_code == 200, url
        assert_secured(response)


def test_the_login_redirect_confirm_page_and_action_answers_send_them_too(r):
    assert_secured(Client().get(reverse("admin:jobs_console")))  # to the login page
    operator = user("view_console", "operate_console")
    asked = act(operator, "purge", "default", confirmed=False)
    assert asked.status_code == 200 and b"Are you sure" in asked.content
    assert_secured(asked)
    done = act(operator, "pause", "default")
    assert done.status_code == 302
    assert_secured(done)


def test_static_files_on_another_host_and_sameorigin_framing_are_allowed(r):
    viewer = user("view_console", name="viewer")
    with override_settings(STATIC_URL="https://cdn.example.com/static/", X_FRAME_OPTIONS="SAMEORIGIN"):
        policy = directives(viewer.get(reverse("admin:jobs_console")))
    assert policy["script-src"] == "'self' https://cdn.example.com"
    assert policy["style-src"] == "'self' https://cdn.example.com"
    assert policy["frame-ancestors"] == "'self'"
    with override_settings(STATIC_URL="//cdn.example.com/static/"):
        assert "https://cdn.example.com" in headers.policy()


@pytest.mark.parametrize("middleware, extra", [
    ("django.middleware.csp.ContentSecurityPolicyMiddleware", {"SECURE_CSP": {"default-src": ["'self'"]}}),
    ("csp.middleware.CSPMiddleware", {}),
])
def test_a_site_wide_policy_is_left_to_the_site(middleware, extra):
    """The site's middleware writes its policy after the view: the console must not pre-empt it."""
    with override_settings(MIDDLEWARE=[middleware], **extra):
        response = headers.secure(HttpResponse())
    assert "Content-Security-Policy" not in response
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_django_csp_middleware_installed_without_secure_csp_still_gets_the_consoles():
    with override_settings(MIDDLEWARE=["django.middleware.csp.ContentSecurityPolicyMiddleware"], SECURE_CSP={}):
        assert headers.secure(HttpResponse())["Content-Security-Policy"] == headers.policy()


def test_a_header_the_view_set_and_the_sites_own_headers_are_kept():
    response = HttpResponse(headers={"Content-Security-Policy": "default-src 'none'", "Referrer-Policy": "no-referrer"})
    headers.secure(response)
    assert response["Content-Security-Policy"] == "default-src 'none'"
    assert response["Referrer-Policy"] == "no-referrer"


@pytest.mark.skipif(importlib.util.find_spec("django.middleware.csp") is None,
                    reason="Django's CSP middleware is Django 6.0+")
def test_with_djangos_csp_middleware_the_site_policy_is_the_one_sent(r, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.csp.ContentSecurityPolicyMiddleware"]
    settings.SECURE_CSP = {"default-src": ["'self'"], "script-src": ["'self'", "https://site.example"]}
    response = user("view_console", name="viewer").get(reverse("admin:jobs_console"))
    assert response.status_code == 200
    assert directives(response)["script-src"] == "'self' https://site.example"


def test_no_console_template_has_inline_script_style_or_handler():
    """What the policy would refuse, and so break: all of it lives in static/jobs/console.{js,css}."""
    for path in sorted(TEMPLATES.glob("*.html")):
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), path.name
        assert not re.search(r"<style\b|\sstyle=", text), path.name
        assert not re.search(r"\son[a-z]+=", text), path.name
        assert "javascript:" not in text, path.name
