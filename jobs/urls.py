"""What operators' tools read over HTTP: ``path("jobs/", include("jobs.urls"))`` in the project's
urls.py serves ``jobs/health`` (readiness, as JSON) and ``jobs/metrics`` (Prometheus). Staff, or a client that sends
``Authorization: Bearer <JOBS["METRICS_TOKEN"]>`` (a probe has no session), and nobody else."""

from django.urls import path

from . import probes

app_name = "jobs"
urlpatterns = [
    path("health", probes.health, name="health"),
    path("metrics", probes.metrics, name="metrics"),
]
