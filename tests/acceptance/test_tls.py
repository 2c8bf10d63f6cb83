"""jobs over TLS, end to end: certificates made here (a CA, a certificate for 127.0.0.1 and
localhost, a client certificate), a redis-server that serves TLS only (--port 0) and wants the client
certificate (tls-auth-clients yes), and the core of jobs (core_scenarios.py: worker, beat, results,
workflows, the CLI, the console, health and metrics) over it with verification on. Then what goes
wrong says so at once: a wrong CA, no client certificate; TLS to a plain port times out."""

from __future__ import annotations

import dataclasses
import io
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from django.core.management import call_command
from django.test import override_settings

from jobs.engine.redis.connection import redact
from jobs.engine.setup import app as engine_app
from jobs.exceptions import BrokerUnavailable
from tests.acceptance import core_scenarios
from tests.conftest import Worker
from tests.servers import Certificates, RunningServer, make_ca, make_certificates, start_redis, tls_or_skip, tls_url
from tests.testapp import tasks


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_server(certs: Certificates) -> Iterator[RunningServer]:
    """TLS only, and a client certificate required."""
    server = tls_or_skip(lambda: start_redis("--tls-auth-clients", "yes", tls=certs))
    with server:
        yield server


def options(certs: Certificates, client_cert: bool = True) -> dict[str, str | bool]:
    """The same as tls_url's query string, as BROKER_OPTIONS."""
    found: dict[str, str | bool] = {"ssl_cert_reqs": "required", "ssl_ca_certs": str(certs.ca),
                                    "ssl_check_hostname": True}
    if client_cert:
        found |= {"ssl_certfile": str(certs.client_cert), "ssl_keyfile": str(certs.client_key)}
    return found


def blocked_in(server: RunningServer, command: str, timeout: float = 15.0) -> bool:
    """Whether a client of the server waits in `command` (CLIENT LIST) within `timeout`: the state of
    an idle worker, which has no event of its own to await."""
    admin = redis.Redis.from_url(server.url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(c.get("cmd") == command and "b" in c.get("flags", "") for c in admin.client_list()):
            return True
        time.sleep(0.05)
    return False


def test_the_core_of_jobs_runs_over_mutual_tls(tls_server, certs, start_worker, start_beat, test_database_env):
    url = tls_server.url  # rediss://...?ssl_cert_reqs=required&ssl_ca_certs=...&ssl_certfile=...&ssl_keyfile=...
    assert url.startswith("rediss://") and "ssl_cert_reqs=required" in url and "ssl_certfile" in url
    beat_settings = {"BROKER_URL": f"rediss://127.0.0.1:{tls_server.port}/0", "BROKER_OPTIONS": options(certs)}
    worker, beat = core_scenarios.run(url, url, start_worker, start_beat, test_database_env,
                                      beat_settings=beat_settings)
    for process in (worker, beat):
        assert "Redis call failed" not in process.output and "could not check" not in process.output, process.output

    # The idle worker waits in BLPOP (over TLS: the server has no other port), and a result's waiter
    # is told on its done:<id> channel, read from the TLS socket.
    assert blocked_in(tls_server, "blpop")
    with override_settings(JOBS={"BROKER_URL": url}):
        broker = engine_app.current().broker
        task_id = str(uuid.uuid4())
        watch = broker.results.watch(task_id)
        try:
            tasks.add.apply_async((20, 22), task_id=task_id)
            assert watch.link.conn.can_read(timeout=20)
            kind, channel, _ = watch.link.conn.read_response()
            assert (kind, channel) == (b"message", broker.keys.done(task_id).encode())
        finally:
            watch.close()
        assert tasks.add.AsyncResult(task_id).get(timeout=5) == 42


# -- what goes wrong says so, at once ---------------------------------------------------------------

def refused_to_start(command: str, url: str) -> str:
    process = Worker(["-P", "solo"] if command == "runworker" else [], env={"JOBS_BROKER_URL": url}, command=command)
    try:
        assert process.wait(60) != 0, process.output
        return process.output
    finally:
        process.cleanup()


def test_a_wrong_ca_is_said_not_retried(tls_server, certs, tmp_path):
    other_ca, _ = make_ca(tmp_path, "other-ca")
    url = tls_url(tls_server.port, dataclasses.replace(certs, ca=other_ca))
    said = "Redis's TLS certificate could not be verified"
    for command in ("runworker", "runbeat"):
        output = refused_to_start(command, url)
        assert said in output and "ssl_ca_certs must name the CA that signed it" in output, output
        assert f"The {'worker' if command == 'runworker' else 'beat'} does not start" in output
    with override_settings(JOBS={"BROKER_URL": url, "ENQUEUE_TIMEOUT": 10}):
        with pytest.raises(BrokerUnavailable, match=said):
            tasks.add.delay(1, 1)
        out = io.StringIO()
        call_command("check", stdout=out, stderr=out)
        assert "jobs.W001" in out.getvalue() and f"TLS: {said}" in out.getvalue()


def test_no_client_certificate_is_said_not_retried(tls_server, certs):
    url = tls_url(tls_server.port, certs, client_cert=False)
    assert "refused this client's TLS certificate" in refused_to_start("runworker", url)
    with override_settings(JOBS={"BROKER_URL": url, "ENQUEUE_TIMEOUT": 10}):
        with pytest.raises(BrokerUnavailable, match="set ssl_certfile and ssl_keyfile"):
            tasks.add.delay(1, 1)


def test_tls_to_a_plain_port_is_a_timeout_not_a_hang(certs):
    """A plain Redis reads the TLS hello as the start of a command and waits for its end: the
    handshake times out, as a Redis that does not answer would, within ENQUEUE_TIMEOUT."""
    with start_redis() as plain:
        with override_settings(JOBS={"BROKER_URL": tls_url(plain.port, certs), "ENQUEUE_TIMEOUT": 1}):
            with pytest.raises(BrokerUnavailable, match="Timeout connecting"):
                tasks.add.delay(1, 1)


def test_passwords_in_the_query_string_are_hidden_too():
    url = "rediss://jobs:s3cret@redis.internal:6380/0?ssl_ca_certs=/etc/ca.pem&ssl_password=keypass&password=other"
    shown = redact(url)
    assert "s3cret" not in shown and "keypass" not in shown and "other" not in shown
    assert shown.startswith("rediss://jobs:***@redis.internal:6380/0?ssl_ca_certs=/etc/ca.pem&")
    assert redact("unix:///run/redis.sock?db=1") == "unix:///run/redis.sock?db=1"

