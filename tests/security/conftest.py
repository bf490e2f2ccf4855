"""One real cluster for the security tests, and callers holding certificates of every
kind: the cluster's own (admin, node), extra users issued by its CA, and forgeries."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hpcq import config, pki
from hpcq.api import admin_pb2, jobs_pb2
from hpcq.client import Client
from hpcq.transport import GrpcTransport
from tests.cluster import Cluster, start_cluster

DEADLINE = 10.0


@dataclass
class SecureCluster:
    cluster: Cluster
    server: str

    @property
    def pki(self) -> Path:
        return self.cluster.home / "pki"

    @property
    def ca(self) -> Path:
        return self.pki / "ca.crt"

    def credentials(self, cert: Path, key: Path, ca: Path | None = None) -> grpc.ChannelCredentials:
        return pki.channel_credentials(ca or self.ca, cert, key)

    def client(self, cert: Path, key: Path) -> Client:
        """A Client that calls ctld directly with this certificate (never through the agent)."""
        return Client(GrpcTransport(self.server, ca=self.ca, cert=cert, key=key), timeout=DEADLINE)

    def person(self, name: str, role: str = "user") -> Client:
        """A client for `name` in `role`, with a certificate from the cluster's CA."""
        out = self.pki / "people"
        crt, key = out / f"{name}.crt", out / f"{name}.key"
        if not crt.exists():
            pki.issue(self.pki, role, name, out)
        return self.client(crt, key)

    def admin(self) -> Client:
        return self.client(self.pki / "client.crt", self.pki / "client.key")

    def node(self, name: str) -> tuple[Path, Path]:
        return self.pki / f"{name}.crt", self.pki / f"{name}.key"

    def channel(self, credentials: grpc.ChannelCredentials) -> grpc.Channel:
        return grpc.secure_channel(self.server, credentials)

    # -- what an attempt may have changed -------------------------------------------------

    def next_job_id(self) -> int:
        with self.admin() as admin:
            return admin.server_info().next_job_id

    def job(self, job_id: int) -> jobs_pb2.Job:
        with self.admin() as admin:
            jobs, unknown = admin.get([job_id])
        assert not unknown, f"job {job_id} vanished"
        return jobs[0]

    def nodes(self) -> dict[str, admin_pb2.Node]:
        with self.admin() as admin:
            return {n.name: n for n in admin.nodes()}

    def queues(self) -> set[str]:
        with self.admin() as admin:
            return {q.name for q in admin.queues()}


@pytest.fixture(scope="session")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureCluster]:
    home = tmp_path_factory.mktemp("hpcq-security")
    cluster = start_cluster(home, nodes=2, cpus=2)
    try:
        yield SecureCluster(cluster, config.load(home / "hpcq.toml").client.server)
    finally:
        cluster.run("hpcqctl", "down", check=False)


@pytest.fixture(scope="module")
def alice(secure: SecureCluster) -> Iterator[Client]:
    """Two users with certificates of their own, for the tests of who may do what."""
    with secure.person("alice") as client:
        yield client


@pytest.fixture(scope="module")
def bob(secure: SecureCluster) -> Iterator[Client]:
    with secure.person("bob") as client:
        yield client


def submit_request(name: str, **spec_fields) -> bytes:
    spec = jobs_pb2.JobSpec(name=name, script="#!/bin/sh\ntrue\n", submit_dir="/tmp", **spec_fields)
    return jobs_pb2.SubmitRequest(specs=[spec]).SerializeToString()


def is_drained(node: admin_pb2.Node) -> bool:
    return node.state in (admin_pb2.NODE_DRAINING, admin_pb2.NODE_DRAINED)


def forged_certificate(
    ca_dir: Path, out: Path, name: str, role: str, *, not_before: dt.datetime, not_after: dt.datetime
) -> tuple[Path, Path]:
    """A client certificate signed by the CA in `ca_dir` with any validity we like
    (pki.issue refuses a past one, rightly). Written 0600 as pki wants its keys."""
    ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
                                 x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    out.mkdir(parents=True, exist_ok=True)
    crt_path, key_path = out / f"{name}.crt", out / f"{name}.key"
    key_path.touch(mode=0o600)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return crt_path, key_path
