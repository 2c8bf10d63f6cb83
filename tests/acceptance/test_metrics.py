"""Prometheus metrics at jobs/metrics: read from Redis at scrape time, parsed here with Prometheus's
own text parser (the prometheus-client package), the counts checked against a known workload run by
a real worker."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.checks import run_checks
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from jobs.checks import check_metrics_token
from jobs.engine.setup import app as engine_app
from tests.testapp import tasks

pytestmark = pytest.mark.django_db
TOKEN = "scrape-token-0123456789"


def scrape(client: Client) -> dict[str, list]:
    response = client.get("/jobs/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain; version=0.0.4")
    return {family.name: family.samples for family in text_string_to_metric_families(response.content.decode())}


def value(samples, name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, samples)
    return found[0]


@override_settings(JOBS={"METRICS_TOKEN": TOKEN})
def test_the_counts_match_a_known_workload(start_worker, r):
    client = Client()
    start_worker("-c", "1")
    for i in range(3):
        assert tasks.add.delay(i, i).get(timeout=10) == 2 * i
    failed = tasks.fail.delay("boom")
    failed.get(timeout=10, propagate=False)
    revoked = tasks.add.apply_async((1, 1), countdown=600)
    revoked.revoke()
    for _ in range(2):
        tasks.add.apply_async((5, 5), queue="later")
    tasks.add.apply_async((6, 6), countdown=600)
    families = scrape(client)

    total = families["jobs_tasks"]  # the parser names a counter family without its _total
    assert value(total, "jobs_tasks_total", task="tests.testapp.tasks.add", queue="default", outcome="SUCCESS") == 3
    assert value(total, "jobs_tasks_total", task="tests.testapp.tasks.fail", queue="default", outcome="FAILURE") == 1
    runtime = families["jobs_task_runtime_seconds"]
    assert value(runtime, "jobs_task_runtime_seconds_count", task="tests.testapp.tasks.add") == 3
    assert value(runtime, "jobs_task_runtime_seconds_bucket", task="tests.testapp.tasks.add", le="+Inf") == 3
    assert 0 < value(runtime, "jobs_task_runtime_seconds_sum", task="tests.testapp.tasks.add") < 3
    buckets = [s for s in runtime if s.name.endswith("_bucket") and s.labels["task"] == "tests.testapp.tasks.add"]
    assert [s.value for s in buckets] == sorted(s.value for s in buckets)  # cumulative
    wait = families["jobs_task_wait_seconds"]
    assert value(wait, "jobs_task_wait_seconds_count", task="tests.testapp.tasks.fail") == 1
    assert value(families["jobs_queue_length"], "jobs_queue_length", queue="later") == 2
    assert value(families["jobs_queue_length"], "jobs_queue_length", queue="default") == 0  # served, empty
    assert value(families["jobs_queue_latency_seconds"], "jobs_queue_latency_seconds", queue="default") == 0
    assert value(families["jobs_queue_latency_seconds"], "jobs_queue_latency_seconds", queue="later") >= 0
    assert value(families["jobs_scheduled"], "jobs_scheduled") == 2
    assert value(families["jobs_workers_alive"], "jobs_workers_alive") == 1
    assert value(families["jobs_running"], "jobs_running") == 0
    assert value(families["jobs_dead_letters"], "jobs_dead_letters") == 0
    assert value(families["jobs_beat_leader"], "jobs_beat_leader") == 0
    assert value(families["jobs_redeliveries"], "jobs_redeliveries_total") == 0
    assert not any("worker" in s.labels for samples in families.values() for s in samples)


@override_settings(JOBS={"METRICS_TOKEN": TOKEN})
def test_a_revoked_task_is_counted_when_a_worker_comes_to_it(start_worker, r):
    result = tasks.add.delay(1, 1)
    result.revoke()
    start_worker("-c", "1")
    result.get(timeout=10, propagate=False)
    families = scrape(Client())
    assert value(families["jobs_tasks"], "jobs_tasks_total", task="tests.testapp.tasks.add", queue="default",
                 outcome="REVOKED") == 1


@override_settings(JOBS={"METRICS_TOKEN": TOKEN})
def test_an_unauthenticated_scrape_is_refused(r):
    client = Client()
    assert client.get("/jobs/metrics").status_code == 401
    assert client.get("/jobs/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    client.force_login(User.objects.create_user("ops", password="pw", is_staff=True))
    assert client.get("/jobs/metrics").status_code == 200
    assert engine_app.current().broker.link.call("HLEN", engine_app.current().keys.stats) == 0


#: A site's URLconf without jobs.urls (ROOT_URLCONF=this module): nothing is exposed, nothing to warn of.
urlpatterns: list[Any] = []


def token_warnings() -> list[str]:
    return [m.id for m in check_metrics_token() if m.id == "jobs.W006"]


@override_settings(JOBS={})
def test_without_a_token_only_staff_read_it_and_the_check_says_why_scrapers_cannot(r):
    """The default in production (DEBUG off, no METRICS_TOKEN): staff sessions only; no bearer token, not
    even an empty one, opens it; and `manage.py check` warns that Prometheus will get 401."""
    client = Client()
    for header in ({}, {"HTTP_AUTHORIZATION": "Bearer "}, {"HTTP_AUTHORIZATION": "Bearer"},
                   {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}):
        refused = client.get("/jobs/metrics", **header)
        assert refused.status_code == 401 and refused["WWW-Authenticate"] == 'Bearer realm="jobs"', header
        assert b"jobs_" not in refused.content
    client.force_login(User.objects.create_user("ops", password="pw", is_staff=True))
    assert client.get("/jobs/metrics").status_code == 200
    found = [m for m in run_checks(tags=["jobs"]) if m.id == "jobs.W006"]
    assert len(found) == 1 and "/jobs/metrics" in found[0].msg and "401" in found[0].msg
    assert "METRICS_TOKEN" in found[0].hint and "SILENCED_SYSTEM_CHECKS" in found[0].hint


def test_the_warning_goes_with_a_token_in_debug_or_when_the_views_are_not_mounted():
    with override_settings(JOBS={}):
        assert token_warnings() == ["jobs.W006"]
    with override_settings(JOBS={"METRICS_TOKEN": TOKEN}):
        assert token_warnings() == []
    with override_settings(JOBS={}, DEBUG=True):
        assert token_warnings() == []
    with override_settings(JOBS={}, ROOT_URLCONF=__name__):
        assert token_warnings() == []
    with override_settings(JOBS={}):
        del settings.ROOT_URLCONF  # a project without URLs (a worker's only, the benchmark's): `check` ran, crashed
        assert token_warnings() == []
    with override_settings(JOBS={"METRICS_TOKEN": "short"}):
        assert token_warnings() == []  # jobs.E001 says what is wrong with it


@override_settings(JOBS={}, DEBUG=True)
def test_debug_opens_nothing(r):
    """DEBUG left on in production must not open the endpoint: the rule is the same, only the warning is not."""
    assert Client().get("/jobs/metrics").status_code == 401


@override_settings(JOBS={"METRICS_TOKEN": TOKEN})
def test_with_a_token_the_scraper_and_staff_read_it_and_nobody_else(r):
    client = Client()
    assert client.get("/jobs/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert client.get("/jobs/metrics", HTTP_AUTHORIZATION=f"bearer {TOKEN}").status_code == 200  # scheme: any case
    for wrong in (f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, ""):
        assert client.get("/jobs/metrics", HTTP_AUTHORIZATION=wrong).status_code == 401, wrong
    client.force_login(User.objects.create_user("ops", password="pw", is_staff=True))
    assert client.get("/jobs/metrics").status_code == 200
