"""Revoking certificates (crl.pem), re-reading the list when it changes, `hpcqctl
certs revoke`, and rotating the server certificate without a restart."""
from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from cryptography import x509

from hpcq import pki
from hpcq.ctl import certs as ctl_certs


def serial_of(crt: Path) -> int:
    return x509.load_pem_x509_certificate(crt.read_bytes()).serial_number


def read_crl(ca: Path) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl((ca / pki.CRL_FILE).read_bytes())


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    directory = tmp_path / "pki"
    pki.init_ca(directory, "lab")
    return directory


# --- the CRL ----------------------------------------------------------------------------


def test_revoking_a_certificate_file_lists_its_serial_in_a_crl_signed_by_the_ca(ca: Path) -> None:
    alice, _ = pki.issue(ca, "user", "alice", ca)
    bob, _ = pki.issue(ca, "user", "bob", ca)

    assert pki.revoke(ca, alice, reason="key_compromise") == serial_of(alice)

    crl = read_crl(ca)
    ca_cert = x509.load_pem_x509_certificate((ca / "ca.crt").read_bytes())
    assert crl.issuer == ca_cert.subject
    assert crl.is_signature_valid(ca_cert.public_key())
    entry = crl.get_revoked_certificate_by_serial_number(serial_of(alice))
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    assert crl.get_revoked_certificate_by_serial_number(serial_of(bob)) is None
    assert oct(os.stat(ca / pki.CRL_FILE).st_mode & 0o777) == oct(0o644)


def test_revocations_accumulate_and_the_crl_number_grows(ca: Path) -> None:
    alice, _ = pki.issue(ca, "user", "alice", ca)
    pki.revoke(ca, alice)
    first = read_crl(ca).extensions.get_extension_for_class(x509.CRLNumber).value.crl_number

    pki.revoke(ca, 12345, reason="superseded")

    crl = read_crl(ca)
    assert {r.serial_number for r in crl} == {serial_of(alice), 12345}
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == first + 1
    # An unspecified reason is left out, as RFC 5280 asks.
    assert not crl.get_revoked_certificate_by_serial_number(serial_of(alice)).extensions


def test_revoking_twice_changes_nothing(ca: Path) -> None:
    alice, _ = pki.issue(ca, "user", "alice", ca)
    pki.revoke(ca, alice)
    before = (ca / pki.CRL_FILE).read_bytes()

    pki.revoke(ca, alice)

    assert (ca / pki.CRL_FILE).read_bytes() == before


def test_revoke_refuses_what_it_cannot_or_should_not_revoke(ca: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    pki.init_ca(foreign, "elsewhere")
    mallory, _ = pki.issue(foreign, "user", "mallory", foreign)

    with pytest.raises(pki.PkiError, match=rf"{mallory}: not issued by the CA in {ca}"):
        pki.revoke(ca, mallory)
    with pytest.raises(pki.PkiError, match="CA certificate cannot be revoked"):
        pki.revoke(ca, ca / "ca.crt")
    with pytest.raises(pki.PkiError, match="unknown revocation reason 'whim'"):
        pki.revoke(ca, 7, reason="whim")
    with pytest.raises(pki.PkiError, match="must be positive"):
        pki.revoke(ca, 0)
    with pytest.raises(pki.PkiError, match=r"no CA key here"):
        pki.revoke(foreign / "nowhere", 7)
    assert not (ca / pki.CRL_FILE).exists()


def test_identity_carries_the_serial_and_still_compares_by_principal(ca: Path) -> None:
    alice, _ = pki.issue(ca, "user", "alice", ca)

    who = pki.identity_from_auth_context({"x509_pem_cert": [alice.read_bytes()]})

    assert who is not None and who.serial == serial_of(alice)
    assert who == pki.Identity("alice", "user")


# --- RevocationList ---------------------------------------------------------------------


def test_revocation_list_without_a_file_revokes_nothing_until_one_appears(ca: Path) -> None:
    alice, _ = pki.issue(ca, "user", "alice", ca)
    crl = pki.RevocationList.load(ca / pki.CRL_FILE, ca=ca / "ca.crt")
    assert not crl.is_revoked(serial_of(alice))

    pki.revoke(ca, alice)

    assert crl.is_revoked(serial_of(alice))


def test_revocation_list_rereads_the_file_only_when_it_changes(
    ca: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, _ = pki.issue(ca, "user", "alice", ca)
    bob, _ = pki.issue(ca, "user", "bob", ca)
    pki.revoke(ca, alice)
    crl = pki.RevocationList.load(ca / pki.CRL_FILE)
    parses = []
    real = pki._load_crl
    monkeypatch.setattr(pki, "_load_crl", lambda *a: parses.append(1) or real(*a))

    assert crl.is_revoked(serial_of(alice)) and not crl.is_revoked(serial_of(bob))
    assert parses == []                       # unchanged file: a stat, no parse

    pki.revoke(ca, bob)
    parses.clear()                            # revoke() read the old list itself

    assert crl.is_revoked(serial_of(bob)) and crl.is_revoked(serial_of(alice))
    assert crl.is_revoked(serial_of(bob))
    assert parses == [1]


def test_revocation_list_keeps_the_last_good_list_when_the_file_breaks(
    ca: Path, caplog: pytest.LogCaptureFixture
) -> None:
    alice, _ = pki.issue(ca, "user", "alice", ca)
    pki.revoke(ca, alice)
    crl = pki.RevocationList.load(ca / pki.CRL_FILE, ca=ca / "ca.crt")

    (ca / pki.CRL_FILE).write_text("garbage\n")

    assert crl.is_revoked(serial_of(alice))
    assert f"{ca / pki.CRL_FILE}: not a PEM certificate revocation list" in caplog.text
    with pytest.raises(pki.PkiError, match="not a PEM certificate revocation list"):
        pki.RevocationList.load(ca / pki.CRL_FILE)


def test_revocation_list_refuses_a_crl_signed_by_another_ca(ca: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    pki.init_ca(other, "elsewhere")
    pki.revoke(other, 99)

    with pytest.raises(pki.PkiError, match="not signed by the CA"):
        pki.RevocationList.load(other / pki.CRL_FILE, ca=ca / "ca.crt")


def test_list_certs_marks_revoked_certificates(ca: Path) -> None:
    alice, _ = pki.issue(ca, "user", "alice", ca)
    pki.issue(ca, "user", "bob", ca)
    pki.revoke(ca, alice)

    assert {c.name: c.revoked for c in pki.list_certs(ca)} == {"alice": True, "bob": False, "hpcq CA lab": False}


# --- hpcqctl certs revoke ---------------------------------------------------------------


def hpcqctl(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="hpcqctl")
    ctl_certs.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def listing(capsys: pytest.CaptureFixture[str]) -> dict[str, list[str]]:
    capsys.readouterr()
    assert hpcqctl("certs", "list") == 0
    header, *rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert header == ["NAME", "ROLE", "EXPIRES", "DAYS_LEFT", "FILE"]
    return {r[0]: r for r in rows}


def test_certs_revoke_by_name_file_and_serial_and_list_marks_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HPCQ_HOME", str(tmp_path))
    ca = tmp_path / "pki"
    assert hpcqctl("certs", "init") == 0
    for name in ("alice", "bob", "carol"):
        assert hpcqctl("certs", "issue", "user", name) == 0
    elsewhere = tmp_path / "issued"
    assert hpcqctl("certs", "issue", "node", "node7", "--out", str(elsewhere)) == 0
    capsys.readouterr()

    assert hpcqctl("certs", "revoke", "alice", "--reason", "key-compromise") == 0
    assert capsys.readouterr().out == (
        f"revoked {ca / 'alice.crt'} (serial {serial_of(ca / 'alice.crt'):#x}); wrote {ca / 'crl.pem'}\n")
    assert hpcqctl("certs", "revoke", str(elsewhere / "node7.crt")) == 0
    assert hpcqctl("certs", "revoke", hex(serial_of(ca / "carol.crt"))) == 0

    rows = listing(capsys)
    assert rows["alice"][3] == "revoked"
    assert rows["carol"][3] == "revoked"
    assert rows["bob"][3] == "364"
    assert {r.serial_number for r in read_crl(ca)} == {
        serial_of(ca / "alice.crt"), serial_of(elsewhere / "node7.crt"), serial_of(ca / "carol.crt")}


def test_certs_revoke_finds_a_certificate_by_its_common_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = tmp_path / "pki"
    assert hpcqctl("certs", "init", "--dir", str(ca)) == 0
    pki.issue(ca, "admin", "root", ca, basename="client")

    assert hpcqctl("certs", "revoke", "root", "--dir", str(ca)) == 0
    assert pki.RevocationList.load(ca / pki.CRL_FILE).is_revoked(serial_of(ca / "client.crt"))
    # openssl's spelling of a serial works too.
    colon = serial_of(ca / "client.crt").to_bytes(20, "big").lstrip(b"\0").hex(":")
    capsys.readouterr()
    assert hpcqctl("certs", "revoke", colon, "--dir", str(ca)) == 0


def test_certs_revoke_says_what_it_could_not_find(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = tmp_path / "pki"
    assert hpcqctl("certs", "init", "--dir", str(ca)) == 0
    capsys.readouterr()

    assert hpcqctl("certs", "revoke", "nobody", "--dir", str(ca)) == 1

    assert capsys.readouterr().err == (
        f"hpcqctl: nobody: no such certificate file, no nobody.crt or certificate named 'nobody' in {ca}, "
        "and not a serial number\n")
    assert not (ca / pki.CRL_FILE).exists()


# --- rotating the server certificate ------------------------------------------------------


@pytest.fixture
def reloading_server(ca: Path, tmp_path: Path) -> Iterator[tuple[str, Path, object]]:
    """A grpc server on files in `live/` whose credentials reload on demand."""
    live = tmp_path / "live"
    live.mkdir()
    crt, key = pki.issue(ca, "server", "ctld", live)
    shutil.copy(ca / "ca.crt", live / "ca.crt")

    def whoami(request: bytes, context: grpc.ServicerContext) -> bytes:
        who = pki.identity_from_auth_context(context.auth_context())
        return who.name.encode() if who else b"anonymous"

    handler = grpc.method_handlers_generic_handler("test.Who", {"Am": grpc.unary_unary_rpc_method_handler(whoami)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[handler])
    credentials, reload = pki.reloading_server_credentials(live / "ca.crt", crt, key)
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    yield f"127.0.0.1:{port}", live, reload
    server.stop(grace=None)


def call(addr: str, ca_dir: Path, name: str) -> bytes:
    crt, key = pki.issue(ca_dir, "user", name, ca_dir / "clients")
    creds = pki.channel_credentials(ca_dir / "ca.crt", crt, key)
    with grpc.secure_channel(addr, creds) as channel:
        return channel.unary_unary("/test.Who/Am")(b"", timeout=5)


def test_reload_puts_new_files_into_effect_for_new_connections(
    ca: Path, tmp_path: Path, reloading_server: tuple[str, Path, object]
) -> None:
    addr, live, reload = reloading_server
    assert call(addr, ca, "alice") == b"alice"
    new_ca = tmp_path / "new-ca"
    pki.init_ca(new_ca, "lab")
    # Rotate to a certificate (and a client CA) the old clients do not trust.
    pki.issue(new_ca, "server", "ctld", live)
    shutil.copy(new_ca / "ca.crt", live / "ca.crt")

    assert call(addr, ca, "alice") == b"alice"        # files changed, not yet reloaded
    reload()

    assert call(addr, new_ca, "bob") == b"bob"
    with pytest.raises(grpc.RpcError) as err:
        call(addr, ca, "alice")
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_reload_with_broken_files_raises_and_keeps_serving(
    ca: Path, reloading_server: tuple[str, Path, object]
) -> None:
    addr, live, reload = reloading_server
    os.chmod(live / "ctld.key", 0o644)

    with pytest.raises(pki.PkiError, match="permissions 0644 are too open"):
        reload()
    assert call(addr, ca, "alice") == b"alice"
