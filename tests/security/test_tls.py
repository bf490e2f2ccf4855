"""Who may connect at all: only a certificate from the cluster's CA, in its validity,
not revoked. Each refusal is checked against a real ctld, with the status the caller
sees and proof that nothing happened."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import grpc
import pytest

from hpcq import pki
from hpcq.api import admin_pb2, jobs_pb2
from tests.security.conftest import DEADLINE, SecureCluster, forged_certificate, is_drained, submit_request

pytestmark = pytest.mark.integration

SUBMIT = "/hpcq.v1.Jobs/Submit"


def attempt_submit(secure: SecureCluster, credentials: grpc.ChannelCredentials, name: str) -> grpc.RpcError:
    """Submit a job named `name` with these credentials; return the refusal."""
    with secure.channel(credentials) as channel, pytest.raises(grpc.RpcError) as refused:
        channel.unary_unary(SUBMIT)(submit_request(name), timeout=DEADLINE)
    return refused.value


def assert_nothing_submitted(secure: SecureCluster, before: int, name: str) -> None:
    assert secure.next_job_id() == before
    with secure.admin() as admin:
        assert not admin.list(names=[name], include_finished=True)


def test_a_valid_certificate_gets_in(secure: SecureCluster) -> None:
    """The control: the refusals below are about the certificate, not the call."""
    with secure.person("tls-carol") as carol:
        job_id = carol.submit_one(jobs_pb2.JobSpec(name="tls-control", script="#!/bin/sh\ntrue\n",
                                                   submit_dir="/tmp", hold=True))
    assert secure.job(job_id).user == "tls-carol"


def test_no_client_certificate_is_refused(secure: SecureCluster) -> None:
    before = secure.next_job_id()
    anonymous = grpc.ssl_channel_credentials(root_certificates=secure.ca.read_bytes())

    refused = attempt_submit(secure, anonymous, "tls-anonymous")

    # Refused in the handshake: the caller never reaches a servicer.
    assert refused.code() == grpc.StatusCode.UNAVAILABLE
    assert_nothing_submitted(secure, before, "tls-anonymous")


def test_an_expired_certificate_is_refused(secure: SecureCluster, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    crt, key = forged_certificate(secure.pki, tmp_path, "tls-expired", "user",
                                  not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1))
    before = secure.next_job_id()

    refused = attempt_submit(secure, secure.credentials(crt, key), "tls-expired")

    assert refused.code() == grpc.StatusCode.UNAVAILABLE
    assert_nothing_submitted(secure, before, "tls-expired")


def test_a_not_yet_valid_certificate_is_refused(secure: SecureCluster, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    crt, key = forged_certificate(secure.pki, tmp_path, "tls-future", "admin",
                                  not_before=now + dt.timedelta(days=1), not_after=now + dt.timedelta(days=30))
    before = secure.next_job_id()

    refused = attempt_submit(secure, secure.credentials(crt, key), "tls-future")

    assert refused.code() == grpc.StatusCode.UNAVAILABLE
    assert_nothing_submitted(secure, before, "tls-future")


def test_a_foreign_ca_certificate_is_refused(secure: SecureCluster, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    pki.init_ca(foreign, "elsewhere")
    # An admin certificate of the same name as the cluster's own admin, from another CA.
    crt, key = pki.issue(foreign, "admin", "root", foreign, basename="mallory")
    before = secure.next_job_id()

    # Mallory trusts the cluster's CA, so only ctld's check of her certificate stops her.
    refused = attempt_submit(secure, secure.credentials(crt, key), "tls-foreign")

    assert refused.code() == grpc.StatusCode.UNAVAILABLE
    assert_nothing_submitted(secure, before, "tls-foreign")
    with secure.channel(secure.credentials(crt, key)) as channel, pytest.raises(grpc.RpcError) as drain:
        channel.unary_unary("/hpcq.v1.Admin/DrainNode")(
            admin_pb2.NodeActionRequest(name="node1", reason="mallory").SerializeToString(), timeout=DEADLINE)
    assert drain.value.code() == grpc.StatusCode.UNAVAILABLE
    assert not is_drained(secure.nodes()["node1"])


def test_revoked_certificate_is_refused(secure: SecureCluster) -> None:
    with secure.person("tls-revoked") as dave:
        dave.server_info()                           # in, while the certificate is good
        secure.cluster.run("hpcqctl", "certs", "revoke", str(secure.pki / "people" / "tls-revoked.crt"),
                           "--dir", str(secure.pki), "--reason", "key-compromise")
        before = secure.next_job_id()

        # A new connection and a channel already open are both refused: ctld checks
        # the list on every call, and re-reads it when it changes.
        crt, key = secure.pki / "people" / "tls-revoked.crt", secure.pki / "people" / "tls-revoked.key"
        refused = attempt_submit(secure, secure.credentials(crt, key), "tls-revoked")
        with pytest.raises(Exception) as on_open_channel:
            dave.submit_one(jobs_pb2.JobSpec(name="tls-revoked", script="#!/bin/sh\ntrue\n", submit_dir="/tmp"))

    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
    assert getattr(on_open_channel.value, "code", "") == "UNAUTHENTICATED"
    assert_nothing_submitted(secure, before, "tls-revoked")


def test_ctld_still_serves_after_the_refusals(secure: SecureCluster) -> None:
    with secure.admin() as admin:
        assert admin.server_info().caller_role == "admin"
