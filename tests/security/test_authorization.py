"""The authorization table against a real ctld: users act on their own jobs only, staff
RPCs are for staff, node certificates open their own session and nothing else. Every
refusal comes with its status, and the object it was aimed at is left as it was."""
from __future__ import annotations

import time

import grpc
import pytest

from hpcq.api import admin_pb2, jobs_pb2, nodes_pb2, nodes_pb2_grpc
from hpcq.client import Client
from hpcq.errors import HpcqError
from tests.conftest import wait_until
from tests.security.conftest import DEADLINE, SecureCluster, is_drained, submit_request

pytestmark = pytest.mark.integration

R = jobs_pb2.JobActionResult


def waiting_job(owner: Client, name: str) -> jobs_pb2.Job:
    """A job that stays put: it may not begin for an hour."""
    job_id = owner.submit_one(jobs_pb2.JobSpec(name=name, script="#!/bin/sh\ntrue\n", submit_dir="/tmp",
                                               begin_time=time.time() + 3600))
    jobs, _ = owner.get([job_id])
    assert jobs[0].state == jobs_pb2.WAITING
    return jobs[0]


def unchanged(secure: SecureCluster, job: jobs_pb2.Job) -> bool:
    now = secure.job(job.id)
    return (now.state, now.reason, now.spec) == (job.state, job.reason, job.spec)


# -- users and each other's jobs ------------------------------------------------------------


@pytest.mark.parametrize("action", ["cancel", "hold", "release", "signal"])
def test_a_user_cannot_act_on_another_users_job(
    secure: SecureCluster, alice: Client, bob: Client, action: str
) -> None:
    job = waiting_job(alice, f"alice-{action}")
    if action == "release":
        alice.hold([job.id])
        job = secure.job(job.id)
        assert job.state == jobs_pb2.HELD

    act = {"cancel": bob.cancel, "hold": bob.hold, "release": bob.release,
           "signal": lambda ids: bob.signal(ids, 10)}[action]
    (result,) = act([job.id])

    assert result.code == R.NOT_PERMITTED
    assert result.message == f"job {job.id} belongs to alice"
    assert unchanged(secure, job)


def test_a_user_cannot_alter_another_users_job(secure: SecureCluster, alice: Client, bob: Client) -> None:
    job = waiting_job(alice, "alice-update")

    with pytest.raises(HpcqError) as refused:
        bob.update(job.id, jobs_pb2.JobSpec(name="bobs-now", nice=-1000), ["name", "nice"])

    assert refused.value.code == "PERMISSION_DENIED"
    assert unchanged(secure, job)


def test_the_owner_can_do_what_the_other_user_could_not(secure: SecureCluster, alice: Client) -> None:
    """The control: the refusals above are about ownership, not about the jobs."""
    job = waiting_job(alice, "alice-own")

    assert [r.code for r in alice.signal([job.id], 10)] != [R.NOT_PERMITTED]
    assert [r.code for r in alice.hold([job.id])] == [R.OK]
    assert [r.code for r in alice.release([job.id])] == [R.OK]
    assert [r.code for r in alice.cancel([job.id])] == [R.OK]
    wait_until(lambda: secure.job(job.id).state == jobs_pb2.CANCELLED, timeout=DEADLINE, what="cancelled")


def test_the_owner_can_alter_their_job(secure: SecureCluster, alice: Client) -> None:
    job = waiting_job(alice, "alice-alter")

    assert alice.update(job.id, jobs_pb2.JobSpec(name="renamed"), ["name"]).spec.name == "renamed"


def test_staff_may_act_on_anyones_job(secure: SecureCluster, alice: Client) -> None:
    job = waiting_job(alice, "alice-by-admin")

    with secure.admin() as admin:
        assert [r.code for r in admin.hold([job.id])] == [R.OK]

    assert secure.job(job.id).state == jobs_pb2.HELD


# -- admin RPCs --------------------------------------------------------------------------------


def test_a_user_cannot_drain_a_node(secure: SecureCluster, bob: Client) -> None:
    with pytest.raises(HpcqError) as refused:
        bob.drain_node("node1", reason="bob wants it")

    assert refused.value.code == "PERMISSION_DENIED"
    node = secure.nodes()["node1"]
    assert not is_drained(node) and node.reason == ""


def test_a_user_cannot_create_a_queue(secure: SecureCluster, bob: Client) -> None:
    with pytest.raises(HpcqError) as refused:
        bob.create_queue(admin_pb2.Queue(name="bobs", priority=1000, is_default=True))

    assert refused.value.code == "PERMISSION_DENIED"
    assert "bobs" not in secure.queues()


@pytest.mark.parametrize("method", ["DrainNode", "ResumeNode", "RemoveNode", "CreateQueue", "UpdateQueue",
                                    "DeleteQueue"])
def test_every_staff_rpc_refuses_a_user(secure: SecureCluster, method: str) -> None:
    crt, key = secure.pki / "people" / "bob.crt", secure.pki / "people" / "bob.key"
    secure.person("bob").close()      # make sure the certificate exists
    queues, nodes = secure.queues(), secure.nodes()

    with secure.channel(secure.credentials(crt, key)) as channel, pytest.raises(grpc.RpcError) as refused:
        channel.unary_unary(f"/hpcq.v1.Admin/{method}")(b"", timeout=DEADLINE)

    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert secure.queues() == queues
    assert {n: (v.state, v.reason) for n, v in secure.nodes().items()} == {
        n: (v.state, v.reason) for n, v in nodes.items()}


# -- node certificates ------------------------------------------------------------------------


def test_a_node_certificate_cannot_call_a_user_rpc(secure: SecureCluster) -> None:
    crt, key = secure.node("node1")
    before = secure.next_job_id()

    with secure.channel(secure.credentials(crt, key)) as channel:
        with pytest.raises(grpc.RpcError) as submit:
            channel.unary_unary("/hpcq.v1.Jobs/Submit")(submit_request("from-node1"), timeout=DEADLINE)
        with pytest.raises(grpc.RpcError) as listing:
            channel.unary_unary("/hpcq.v1.Jobs/List")(b"", timeout=DEADLINE)

    assert submit.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert listing.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert secure.next_job_id() == before


def test_a_node_certificate_cannot_open_a_session_as_another_node(secure: SecureCluster) -> None:
    crt, key = secure.node("node1")
    before = secure.nodes()
    assert before["node1"].connected and before["node2"].connected

    with secure.channel(secure.credentials(crt, key)) as channel:
        stream = nodes_pb2_grpc.NodeSessionStub(channel).Connect(
            iter([nodes_pb2.NodeMessage(register=nodes_pb2.Register(name="node2"))]), timeout=DEADLINE)
        with pytest.raises(grpc.RpcError) as refused:
            next(stream)

    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "'node1' may not open a session as 'node2'" in refused.value.details()
    after = secure.nodes()
    # Neither the real node2 nor node1 lost its session.
    assert after["node1"].connected and after["node2"].connected
    assert after["node2"].boot_time == before["node2"].boot_time


def test_a_user_certificate_cannot_open_a_node_session(secure: SecureCluster) -> None:
    secure.person("bob").close()
    crt, key = secure.pki / "people" / "bob.crt", secure.pki / "people" / "bob.key"

    with secure.channel(secure.credentials(crt, key)) as channel:
        stream = nodes_pb2_grpc.NodeSessionStub(channel).Connect(
            iter([nodes_pb2.NodeMessage(register=nodes_pb2.Register(name="bob"))]), timeout=DEADLINE)
        with pytest.raises(grpc.RpcError) as refused:
            next(stream)

    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "bob" not in secure.nodes()
