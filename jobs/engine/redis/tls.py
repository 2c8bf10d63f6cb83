"""A TLS handshake Redis refused is a setting to change, not an outage: said at once, naming what to
fix (ssl_ca_certs, the host in BROKER_URL, ssl_certfile and ssl_keyfile), rather than retried as for a
Redis that is away. tls_failure() tells one from an exception; probe_tls() asks Redis again, in a way
that always hears its refusal, after a failure that could be one (`manage.py check`, a worker's start).
"""

from __future__ import annotations

import ssl
from typing import Any

import redis

from .connection import TRANSIENT, ConnectionFactory


def tls_failure(exc: BaseException | None) -> str | None:
    """What to fix, when `exc` (or what caused it) is a TLS handshake refused for its certificates: a
    setting to change, not an outage, so callers say so at once rather than retry as for a Redis that
    is away. None for anything else (a TLS connection that broke is an outage)."""
    for _ in range(10):  # the chain of causes, bounded
        if exc is None:
            return None
        if isinstance(exc, ssl.SSLCertVerificationError):
            return (f"Redis's TLS certificate could not be verified ({exc.verify_message}): ssl_ca_certs must "
                    "name the CA that signed it, and the host in BROKER_URL must be one the certificate names")
        if isinstance(exc, ssl.SSLError):
            reason = str(exc.reason or "")
            if "CERTIFICATE" in reason or "UNKNOWN_CA" in reason:
                return (f"Redis refused this client's TLS certificate ({reason}): where Redis has "
                        "tls-auth-clients yes, set ssl_certfile and ssl_keyfile to a certificate signed by a CA "
                        "of its tls-ca-cert-file")
        exc = exc.__cause__ or exc.__context__
    return None


def probe_tls(factory: ConnectionFactory, timeout: float = 1.0) -> str | None:
    """tls_failure() of a new connection that sends nothing and waits `timeout` for Redis to speak
    first: for a diagnosis, after a failure that could be a refused client certificate. TLS 1.3 tells
    a client that its certificate was refused only after the client's half of the handshake, and a
    command sent meanwhile races that alert (Redis closes the socket, and a write after that resets it,
    so the client reads "EOF occurred in violation of protocol" about as often as the alert, measured
    on loopback). Sending nothing, the alert is read every time. None for a plain connection."""
    conn = factory(socket_timeout=timeout, socket_connect_timeout=timeout)
    if not isinstance(conn, redis.SSLConnection):
        return None
    handshake: Any = conn._connect  # redis-py's socket and TLS handshake, without its on_connect's commands
    try:
        sock = handshake()
    except TRANSIENT as exc:
        return tls_failure(exc)
    try:
        sock.settimeout(timeout)
        sock.recv(1)  # Redis says nothing first, but an alert
    except TRANSIENT as exc:  # a refusal (ssl.SSLError), or the timeout of a Redis that took this client
        return tls_failure(exc)
    finally:
        sock.close()
    return None
