"""The cluster CA, certificates, and mutual TLS over a real grpc server."""
from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import stat
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from hpcq import pki
from hpcq.ctl import certs as ctl_certs


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def read_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def identity_of(crt: Path) -> pki.Identity | None:
    return pki.identity_from_auth_context({"x509_pem_cert": [crt.read_bytes()]})


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    pki.init_ca(directory, "testcluster")
    return directory


# --- the CA ---------------------------------------------------------------------------


def test_init_ca_writes_a_ca_certificate_and_a_private_key(tmp_path: Path) -> None:
    crt, key = pki.init_ca(tmp_path / "pki", "lab")

    assert (crt.name, key.name) == ("ca.crt", "ca.key")
    assert mode(key) == 0o600
    assert mode(tmp_path / "pki") == 0o700
    cert = read_cert(crt)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert "lab" in cert.subject.rfc4514_string()


def test_init_ca_refuses_to_replace_an_existing_ca(ca: Path) -> None:
    before = (ca / "ca.key").read_bytes()

    with pytest.raises(pki.PkiError, match=r"ca\.key: a CA key already exists"):
        pki.init_ca(ca, "other")
    assert (ca / "ca.key").read_bytes() == before


# --- issuing --------------------------------------------------------------------------


@pytest.mark.parametrize("role", pki.ROLES)
def test_issue_names_the_principal_and_its_role(ca: Path, tmp_path: Path, role: str) -> None:
    crt, key = pki.issue(ca, role, "alice", tmp_path)

    assert (crt, key) == (tmp_path / "alice.crt", tmp_path / "alice.key")
    assert mode(key) == 0o600
    assert identity_of(crt) == pki.Identity(name="alice", role=role)
    eku = read_cert(crt).extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    expected = ExtendedKeyUsageOID.SERVER_AUTH if role == "server" else ExtendedKeyUsageOID.CLIENT_AUTH
    assert list(eku) == [expected]


def test_server_certificate_names_this_host_and_loopback(ca: Path, tmp_path: Path) -> None:
    crt, _ = pki.issue(ca, "server", "ctld", tmp_path, sans=["ctld.example.org", "10.1.2.3"])

    san = read_cert(crt).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = san.get_values_for_type(x509.DNSName)
    ips = san.get_values_for_type(x509.IPAddress)
    assert {"localhost", "ctld.example.org"} <= set(dns)
    assert {ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", "10.1.2.3")} <= set(ips)


def test_issue_uses_basename_for_the_files(ca: Path, tmp_path: Path) -> None:
    crt, key = pki.issue(ca, "node", "n001", tmp_path, basename="noded")

    assert (crt.name, key.name) == ("noded.crt", "noded.key")
    assert identity_of(crt) == pki.Identity("n001", "node")


def test_issue_rejects_an_unknown_role(ca: Path, tmp_path: Path) -> None:
    with pytest.raises(pki.PkiError, match="unknown role 'root'"):
        pki.issue(ca, "root", "alice", tmp_path)


def test_issue_without_a_ca_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(pki.PkiError, match=r"ca\.key: no CA key here.*certs init"):
        pki.issue(tmp_path, "user", "alice", tmp_path)


def test_certificate_never_outlives_its_ca(tmp_path: Path) -> None:
    pki.init_ca(tmp_path, "short", days=10)
    pki.issue(tmp_path, "user", "alice", tmp_path, days=365)

    alice = next(c for c in pki.list_certs(tmp_path) if c.name == "alice")
    assert alice.days_left < 10


# --- keys -----------------------------------------------------------------------------


def test_load_key_file_refuses_a_key_others_can_read(ca: Path, tmp_path: Path) -> None:
    _, key = pki.issue(ca, "user", "bob", tmp_path)
    key.chmod(0o644)

    with pytest.raises(pki.PkiError, match=rf"{key}: permissions 0644 are too open"):
        pki.load_key_file(key)

    key.chmod(0o600)
    assert pki.load_key_file(key).startswith(b"-----BEGIN PRIVATE KEY-----")


def test_credentials_refuse_a_certificate_with_the_wrong_key(ca: Path, tmp_path: Path) -> None:
    alice_crt, _ = pki.issue(ca, "user", "alice", tmp_path)
    _, bob_key = pki.issue(ca, "user", "bob", tmp_path)

    with pytest.raises(pki.PkiError, match=rf"{alice_crt}: certificate does not match"):
        pki.channel_credentials(ca / "ca.crt", alice_crt, bob_key)


# --- listing --------------------------------------------------------------------------


def test_list_shows_each_certificate_with_days_left(tmp_path: Path) -> None:
    pki.init_ca(tmp_path, "lab")
    pki.issue(tmp_path, "user", "alice", tmp_path, days=30)

    by_name = {c.name: c for c in pki.list_certs(tmp_path)}
    assert by_name["alice"].role == "user"
    assert by_name["alice"].days_left == 29  # 30 days less the moments since issuing
    assert by_name["alice"].path == tmp_path / "alice.crt"
    assert by_name["hpcq CA lab"].role == "ca"

    later = by_name["alice"].not_after + dt.timedelta(hours=1)
    expired = {c.name: c for c in pki.list_certs(tmp_path, now=later)}
    assert expired["alice"].days_left == -1


# --- identity -------------------------------------------------------------------------


def test_identity_is_none_without_a_client_certificate() -> None:
    assert pki.identity_from_auth_context({}) is None
    assert pki.identity_from_auth_context({"transport_security_type": [b"ssl"]}) is None


def test_identity_parsing_is_cached_by_certificate(ca: Path, tmp_path: Path) -> None:
    crt, _ = pki.issue(ca, "user", "carol", tmp_path)
    identity_of(crt)
    hits = pki._identity_from_pem.cache_info().hits

    assert identity_of(crt) == pki.Identity("carol", "user")
    assert pki._identity_from_pem.cache_info().hits == hits + 1


# --- mutual TLS, end to end -----------------------------------------------------------


@pytest.fixture(scope="module")
def server_addr(ca: Path) -> Iterator[str]:
    """A grpc server whose one method answers with the caller's identity."""
    out = ca / "server"
    crt, key = pki.issue(ca, "server", "ctld", out)

    def whoami(request: bytes, context: grpc.ServicerContext) -> bytes:
        who = pki.identity_from_auth_context(context.auth_context())
        return f"{who.name}/{who.role}".encode() if who else b"anonymous"

    handler = grpc.method_handlers_generic_handler(
        "test.Who", {"Am": grpc.unary_unary_rpc_method_handler(whoami)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[handler])
    port = server.add_secure_port("127.0.0.1:0", pki.server_credentials(ca / "ca.crt", crt, key))
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(grace=None)


def call(addr: str, creds: grpc.ChannelCredentials) -> bytes:
    with grpc.secure_channel(addr, creds) as channel:
        return channel.unary_unary("/test.Who/Am")(b"", timeout=2)


def test_client_with_a_certificate_from_the_cluster_ca_is_identified(
    ca: Path, tmp_path: Path, server_addr: str
) -> None:
    crt, key = pki.issue(ca, "user", "alice", tmp_path)

    assert call(server_addr, pki.channel_credentials(ca / "ca.crt", crt, key)) == b"alice/user"


def test_client_with_a_certificate_from_a_foreign_ca_is_refused(
    ca: Path, tmp_path: Path, server_addr: str
) -> None:
    foreign = tmp_path / "foreign"
    pki.init_ca(foreign, "elsewhere")
    crt, key = pki.issue(foreign, "admin", "mallory", foreign)
    # Mallory trusts our CA, so only the server's check of her certificate stops her.
    creds = pki.channel_credentials(ca / "ca.crt", crt, key)

    with pytest.raises(grpc.RpcError) as err:
        call(server_addr, creds)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_client_without_a_certificate_is_refused(ca: Path, server_addr: str) -> None:
    creds = grpc.ssl_channel_credentials(root_certificates=(ca / "ca.crt").read_bytes())

    with pytest.raises(grpc.RpcError) as err:
        call(server_addr, creds)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


# --- hpcqctl certs --------------------------------------------------------------------


def hpcqctl(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="hpcqctl")
    ctl_certs.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_hpcqctl_certs_init_issue_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HPCQ_HOME", str(tmp_path))

    assert hpcqctl("certs", "init", "--cluster", "lab") == 0
    assert hpcqctl("certs", "issue", "user", "alice", "--days", "30") == 0
    capsys.readouterr()
    assert hpcqctl("certs", "list") == 0

    header, *rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert header == ["NAME", "ROLE", "EXPIRES", "DAYS_LEFT", "FILE"]
    alice = next(r for r in rows if r[0] == "alice")
    assert alice[1:2] + alice[3:] == ["user", "29", str(tmp_path / "pki" / "alice.crt")]


def test_hpcqctl_certs_errors_name_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hpcqctl("certs", "init", "--dir", str(tmp_path)) == 0
    capsys.readouterr()

    assert hpcqctl("certs", "init", "--dir", str(tmp_path)) == 1
    assert capsys.readouterr().err == (
        f"hpcqctl: {tmp_path / 'ca.key'}: a CA key already exists; refusing to replace it\n"
    )
