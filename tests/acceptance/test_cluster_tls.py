"""jobs on a Redis Cluster over TLS, as an ACL user, and with JOBS["ENQUEUE_REPLICAS"]: one cluster of
three masters with a replica each, started once for the module (tests/servers.start_cluster(tls=...)):
every node serves TLS only (--port 0), the cluster bus, replication and MIGRATE go over TLS too, and
every client shows the test CA's client certificate.

- a real `runworker` and a sender reach it by a rediss+cluster:// URL through a seed that does not own
  jobs' slot (so both follow a MOVED over TLS first), and a task sent with delay() runs, its result read;
- the same as the user docs/operations.md's ACL SETUSER line makes (on every node: a Cluster does not
  share its users), and ACL LOG then holds no refusal but those jobs does without;
- ENQUEUE_REPLICAS = 1: a send returns once the replica of the master that took it has it, and fails
  clearly when that replica is stopped; also when the send was redirected (the slot moved since the
  sender last used it), where the WAIT must follow the script to the node that ran it.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import override_settings

from jobs.engine.errors import BrokerUnavailable
from jobs.engine.redis.cluster import slot_of
from jobs.engine.setup import app as engine_app
from tests.acceptance.test_acl import DONE_WITHOUT, docs_line
from tests.servers import Certificates, ClusterGroup, RunningServer, make_certificates, start_cluster, tls_or_skip
from tests.testapp import tasks

PASSWORD = "a-long-random-password-for-cluster-tests"


@pytest.fixture(scope="module")
def started_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterGroup]:
    certs: Certificates = make_certificates(tmp_path_factory.mktemp("cluster-tls"))
    started = tls_or_skip(lambda: start_cluster(masters=3, replicas=1, tls=certs))
    with started:
        yield started


@pytest.fixture
def cluster(started_cluster: ClusterGroup) -> Iterator[ClusterGroup]:
    started_cluster.flush()
    yield started_cluster
    for node in started_cluster.nodes:
        node.resume()  # in case a test left a replica stopped


def _not_owner(cluster: ClusterGroup, prefix: str = "jobs") -> RunningServer:
    owner = cluster.owner_of(slot_of("{" + prefix + "}"))
    return next(n for n in cluster.masters() if n is not owner)


def _replica_of(cluster: ClusterGroup, master: RunningServer) -> RunningServer:
    """The replica of `master` (one each here), as the replica says itself."""
    for node in cluster.alive():
        replication = cluster.client(node).info("replication")
        if replication["role"] == "slave" and int(replication["master_port"]) == master.port:
            return node
    raise LookupError(f"no replica of {master.port}")


def test_a_worker_runs_a_task_sent_over_tls_to_the_cluster(cluster, start_worker, redis_server):
    url = cluster.url(_not_owner(cluster))
    assert url.startswith("rediss+cluster://") and "ssl_certfile" in url
    worker = start_worker("-c", "1", env={"JOBS_BROKER_URL": url, "JOBS_TEST_EVIDENCE_URL": redis_server.url})
    with override_settings(JOBS={"BROKER_URL": url, "ENQUEUE_TIMEOUT": 5}):
        result = tasks.add.delay(2, 3)
        assert result.get(timeout=20) == 5
        keys = engine_app.current().broker.keys
    assert cluster.client(cluster.owner_of(slot_of("{jobs}"))).exists(keys.result(result.id))
    assert "Redis call failed" not in worker.output, worker.output


def test_the_docs_acl_user_runs_a_worker_and_a_sender_on_the_tls_cluster(cluster, start_worker, redis_server):
    """The line as the docs give it, on every node (masters and replicas: a replica promoted must know
    the user too); the user reads the slot map (+cluster|slots) and follows MOVED from its seed."""
    words = shlex.split(docs_line().replace(">PASSWORD", f">{PASSWORD}"))
    for node in cluster.nodes:
        admin = cluster.client(node)
        assert admin.execute_command(*words) in (b"OK", "OK", True)
        admin.acl_log_reset()
    url = cluster.url(_not_owner(cluster), user=f"jobs:{PASSWORD}")
    worker = start_worker("-c", "1", env={"JOBS_BROKER_URL": url, "JOBS_TEST_EVIDENCE_URL": redis_server.url})
    try:
        with override_settings(JOBS={"BROKER_URL": url, "ENQUEUE_TIMEOUT": 5}):
            assert tasks.add.delay(4, 5).get(timeout=20) == 9
            assert tasks.add.apply_async((1, 2), countdown=0.5).get(timeout=20) == 3  # the scheduled set too
    finally:
        worker.cleanup()
        refused = set()
        for node in cluster.nodes:
            admin = cluster.client(node)
            refused |= {e[b"object"].decode() for e in admin.acl_log() if e.get(b"username") == b"jobs"}
            admin.acl_deluser("jobs")
    # CLIENT SETINFO: redis-py's on Redis 7.2 on, swallowed (test_acl.py says why it is not in the line).
    assert refused - {"client|setinfo"} <= DONE_WITHOUT, refused
    assert "NOPERM" not in worker.output and "Redis call failed" not in worker.output, worker.output


def test_a_durable_send_returns_once_the_owners_replica_has_it(cluster):
    slot = slot_of("{jobs}")
    owner = cluster.owner_of(slot)
    replica = _replica_of(cluster, owner)
    reader = cluster.replica_reader(replica)
    with override_settings(JOBS={"BROKER_URL": cluster.url(_not_owner(cluster)), "ENQUEUE_REPLICAS": 1,
                                 "ENQUEUE_TIMEOUT": 1}):
        keys = engine_app.current().broker.keys
        for i in range(10):  # no worker: each stays queued, and the replica must hold it already
            tasks.add.delay(i, i)
            assert reader.zcard(keys.queue("default")) == i + 1
        replica.pause()
        try:
            with pytest.raises(BrokerUnavailable, match=r"0 of the 1 replica\(s\) ENQUEUE_REPLICAS asks for"):
                tasks.add.delay(1, 1)
        finally:
            replica.resume()


def _refused_unconfirmed(replica: RunningServer, send: Callable[[], Any]) -> None:
    """`send` with `replica` stopped: it must fail saying that no replica confirmed it."""
    replica.pause()
    try:
        with pytest.raises(BrokerUnavailable, match=r"0 of the 1 replica\(s\) ENQUEUE_REPLICAS asks for"):
            send()
    finally:
        replica.resume()


def _move(cluster: ClusterGroup, slot: int, to: RunningServer) -> None:
    cluster.begin_move(slot, to, [])
    cluster.end_move(slot, to)
    assert cluster.owner_of(slot) is to


def test_a_redirected_durable_send_waits_for_the_replica_of_the_node_that_ran_it(cluster):
    """The sender's connection is to the old owner when the slot moves: its send gets MOVED and runs on
    the new owner. Its WAIT must run there, on the connection that wrote: a WAIT on the old owner
    answers at once (its replica has all that connection wrote), whatever the new owner's replica has.
    The first move is to a master that never ran jobs' scripts (NOSCRIPT there: loaded there, then
    sent again), the move back to one that has them."""
    slot = slot_of("{jobs}")
    home = cluster.owner_of(slot)
    away = _not_owner(cluster)
    try:
        with override_settings(JOBS={"BROKER_URL": cluster.url(home), "ENQUEUE_REPLICAS": 1, "ENQUEUE_TIMEOUT": 1}):
            queue = engine_app.current().broker.keys.queue("default")
            tasks.add.delay(1, 1)  # the sender's link is now open to `home`
            _move(cluster, slot, away)
            _refused_unconfirmed(_replica_of(cluster, away), lambda: tasks.add.apply_async((2, 2), task_id="moved-1"))
            # The write is on the new owner; sent again once its replica answers, it is not sent twice.
            assert tasks.add.apply_async((2, 2), task_id="moved-1").id == "moved-1"
            assert cluster.replica_reader(_replica_of(cluster, away)).zcard(queue) == 2

            _move(cluster, slot, home)  # the sender's link is on `away` now
            _refused_unconfirmed(_replica_of(cluster, home), lambda: tasks.add.apply_async((3, 3), task_id="back-1"))
            assert tasks.add.apply_async((3, 3), task_id="back-1").id == "back-1"
            assert cluster.replica_reader(_replica_of(cluster, home)).zcard(queue) == 3
    finally:
        if cluster.owner_of(slot) is not home:
            _move(cluster, slot, home)
