"""hpcq's own certificate authority, and the TLS credentials built from it.

A certificate names one principal: CN is the name (login, node or host name), OU is
its role. The servicer authorizes from that `Identity` alone, so the CA is the root of
all trust: its key never leaves the machine that runs `hpcqctl certs`.

Keys are EC P-256: generated in microseconds and cheap in the handshake, which
matters for short-lived tools that open one channel and exit.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import ipaddress
import logging
import os
import socket
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

if TYPE_CHECKING:
    import grpc

__all__ = [
    "ASSERTED_USER_KEY",
    "CRL_FILE",
    "REVOCATION_REASONS",
    "ROLES",
    "CertInfo",
    "Identity",
    "PkiError",
    "RevocationList",
    "channel_credentials",
    "identity_from_auth_context",
    "init_ca",
    "issue",
    "list_certs",
    "load_key_file",
    "reloading_server_credentials",
    "revoke",
    "server_credentials",
]

log = logging.getLogger("hpcq.pki")

ROLES = ("user", "node", "host", "admin", "operator", "server")
# The gRPC metadata key in which a `host` certificate (hpcq-agent) names the local user it
# vouches for; ctld (ctld/auth.py) believes it from that role only.
ASSERTED_USER_KEY = "x-hpcq-user"

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
CRL_FILE = "crl.pem"
"""The certificate revocation list, next to `ca.crt` and signed by the CA."""

# RFC 5280 reason codes an administrator may give, by name ("key_compromise" or
# "key-compromise"). certificateHold and removeFromCRL are left out: hpcq has no
# un-revoking, so a revocation is final.
REVOCATION_REASONS: dict[str, x509.ReasonFlags] = {
    r.name: r for r in x509.ReasonFlags
    if r not in (x509.ReasonFlags.certificate_hold, x509.ReasonFlags.remove_from_crl)
}

# Certificates are valid from a little before "now" so that a machine whose clock is
# slightly behind the CA's does not reject a certificate issued a second ago.
_BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Identity:
    """Who is calling, as proven by a certificate signed by the cluster CA."""

    name: str
    """The certificate's CN: a login, node or host name."""
    role: str
    """The certificate's OU, one of `ROLES`."""
    serial: int = field(default=0, compare=False)
    """The certificate's serial number, for the revocation check. Not part of equality:
    a renewed certificate proves the same principal."""


@dataclass(frozen=True)
class CertInfo:
    """One certificate file, summarized for `hpcqctl certs list`."""

    path: Path
    name: str
    """CN of the subject."""
    role: str
    """OU of the subject; "ca" for the CA certificate itself."""
    not_after: dt.datetime
    """End of validity, timezone-aware UTC."""
    days_left: int
    """Whole days until `not_after`; negative once expired."""
    serial: int
    revoked: bool = False
    """The serial is on the CA's revocation list."""


class PkiError(Exception):
    """A certificate or key problem; the message names the file and what is wrong."""


# --- creating -------------------------------------------------------------------------


def init_ca(directory: Path, cluster: str, *, days: int = 3650) -> tuple[Path, Path]:
    """Create `ca.crt` and `ca.key` (mode 0600) in `directory`.

    Refuses if `ca.key` exists: silently replacing a CA would invalidate every
    certificate already handed out.
    """
    directory = Path(directory)
    _check_days(days)
    if not cluster:
        raise PkiError("cluster name must not be empty")
    crt_path, key_path = directory / CA_CERT, directory / CA_KEY
    if key_path.exists():
        raise PkiError(f"{key_path}: a CA key already exists; refusing to replace it")
    _make_dir(directory)

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster),
        x509.NameAttribute(NameOID.COMMON_NAME, f"hpcq CA {cluster}"),
    ])
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=days))
        # path_length=0: the CA signs leaf certificates only, never another CA.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    _write_public(crt_path, _pem(cert))
    return crt_path, key_path


def issue(
    ca_dir: Path,
    role: str,
    name: str,
    out_dir: Path,
    *,
    sans: Sequence[str] = (),
    days: int = 365,
    basename: str | None = None,
) -> tuple[Path, Path]:
    """Sign a certificate with CN=`name`, OU=`role`; write `<basename or name>.crt/.key`.

    A "server" certificate is what clients check the dialled address against, so it
    also names this host (hostname, FQDN, localhost, 127.0.0.1, ::1) and gets the
    serverAuth usage; every other role is a client and gets clientAuth. Validity is cut
    at the CA's own expiry, since a certificate cannot outlive its issuer's.
    An existing certificate of the same name is replaced (that is how one renews).
    """
    ca_dir, out_dir = Path(ca_dir), Path(out_dir)
    if role not in ROLES:
        raise PkiError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if not name:
        raise PkiError("certificate name must not be empty")
    _check_days(days)
    stem = basename or name
    # "ca" would overwrite the CA's own files.
    if "/" in stem or stem.startswith(".") or stem == "ca":
        raise PkiError(f"{stem!r} cannot be used as a file name for a certificate")

    ca_cert, ca_key = _load_ca(ca_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    subject_attrs = [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, o.value)
        for o in ca_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    ]
    subject = x509.Name([
        *subject_attrs,
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
        x509.NameAttribute(NameOID.COMMON_NAME, name),
    ])
    if role == "server":
        all_sans = [*sans, *_host_names(), "localhost", "127.0.0.1", "::1"]
        usage = ExtendedKeyUsageOID.SERVER_AUTH
    else:
        all_sans = list(sans)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH

    now = _now()
    not_after = min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if all_sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(_general_names(all_sans)), critical=False
        )
    cert = builder.sign(ca_key, hashes.SHA256())

    _make_dir(out_dir)
    crt_path, key_path = out_dir / f"{stem}.crt", out_dir / f"{stem}.key"
    # Key first: a crash in between leaves an unused key, never a certificate
    # whose key is missing.
    _write_private(key_path, _key_pem(key))
    _write_public(crt_path, _pem(cert))
    return crt_path, key_path


# --- reading --------------------------------------------------------------------------


def list_certs(
    directory: Path, *, now: dt.datetime | None = None, crl: Path | None = None
) -> list[CertInfo]:
    """Summarize every `*.crt` in `directory`, sorted by file name.

    `revoked` is read from `crl` (default: the `crl.pem` in `directory`, if any).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise PkiError(f"{directory}: no such directory")
    now = now or _now()
    revoked = RevocationList.load(crl or directory / CRL_FILE).serials
    infos = []
    for path in sorted(directory.glob("*.crt")):
        cert = _load_cert(path)
        not_after = cert.not_valid_after_utc
        role = _single(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
        infos.append(CertInfo(
            path=path,
            name=_single(cert.subject, NameOID.COMMON_NAME) or "",
            role="ca" if _is_ca(cert) else role or "",
            not_after=not_after,
            days_left=(not_after - now).days,
            serial=cert.serial_number,
            revoked=cert.serial_number in revoked,
        ))
    return infos


def load_key_file(path: str | os.PathLike[str]) -> bytes:
    """Read a PEM private key, refusing one that group or others can read.

    As ssh does: a key that others could have copied no longer proves anything, and
    saying so now beats a confusing authorization failure later.
    """
    return _load_key(Path(path))[0]


def server_credentials(ca: Path, cert: Path, key: Path) -> grpc.ServerCredentials:
    """TLS for a listener that admits only clients holding a certificate from `ca`."""
    import grpc

    cert_x509, _, key_pem = _load_pair(cert, key)
    return grpc.ssl_server_credentials(
        [(key_pem, _pem(cert_x509))], root_certificates=_read_cert_pem(ca), require_client_auth=True
    )


def channel_credentials(ca: Path, cert: Path, key: Path) -> grpc.ChannelCredentials:
    """TLS for a client that trusts only servers certified by `ca` and proves itself."""
    import grpc

    cert_x509, _, key_pem = _load_pair(cert, key)
    return grpc.ssl_channel_credentials(
        root_certificates=_read_cert_pem(ca), private_key=key_pem, certificate_chain=_pem(cert_x509)
    )


def reloading_server_credentials(
    ca: Path, cert: Path, key: Path
) -> tuple[grpc.ServerCredentials, Callable[[], None]]:
    """Like `server_credentials`, plus a `reload()` that re-reads the three files.

    After `reload()` returns, every new handshake uses the new certificate, key and CA
    (connections already open keep theirs): rotating the server certificate or adding
    a CA needs no restart. `reload()` reads and checks the files first and raises
    PkiError if they are broken, in which case the server keeps what it had.
    """
    import grpc

    def configuration() -> grpc.ServerCertificateConfiguration:
        cert_x509, _, key_pem = _load_pair(Path(cert), Path(key))
        return grpc.ssl_server_certificate_configuration(
            [(key_pem, _pem(cert_x509))], root_certificates=_read_cert_pem(Path(ca))
        )

    lock = threading.Lock()
    pending: list[grpc.ServerCertificateConfiguration] = []

    # grpc calls this before every handshake, from its own threads; None keeps the
    # configuration it has, so the common case costs one lock and no file access.
    def fetch() -> grpc.ServerCertificateConfiguration | None:
        with lock:
            return pending.pop() if pending else None

    def reload() -> None:
        fresh = configuration()
        with lock:
            pending[:] = [fresh]
        log.info("server certificate reloaded from %s", cert)

    credentials = grpc.dynamic_ssl_server_credentials(
        configuration(), fetch, require_client_authentication=True
    )
    return credentials, reload


def identity_from_auth_context(auth_context: Mapping[str, Iterable[bytes]]) -> Identity | None:
    """The caller's identity from `context.auth_context()`, or None without a certificate.

    grpc has already verified the chain against the CA (require_client_auth); this only
    reads CN and OU. Called on every RPC, so parsing is cached by the PEM bytes.
    """
    pem = next(iter(auth_context.get("x509_pem_cert", ())), None)
    if pem is None:
        return None
    return _identity_from_pem(pem)


@functools.lru_cache(maxsize=1024)
def _identity_from_pem(pem: bytes) -> Identity | None:
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return None
    name = _single(cert.subject, NameOID.COMMON_NAME)
    role = _single(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
    # A certificate that is not exactly one name in one known role proves nothing:
    # treat it as anonymous rather than guess.
    if not name or role not in ROLES:
        return None
    return Identity(name=name, role=role, serial=cert.serial_number)


# --- revocation -----------------------------------------------------------------------


def revoke(
    ca_dir: Path, cert_path_or_serial: str | os.PathLike[str] | int, reason: str = "unspecified"
) -> int:
    """Put a certificate on the CA's revocation list (`crl.pem`, re-signed); return its serial.

    Give the certificate file (checked to be one this CA issued) or, when the file is
    gone, the serial number. Revoking a serial that is already listed changes nothing.
    `reason` is one of `REVOCATION_REASONS`.
    """
    ca_dir = Path(ca_dir)
    flag = REVOCATION_REASONS.get(reason.replace("-", "_"))
    if flag is None:
        raise PkiError(f"unknown revocation reason {reason!r}; expected one of "
                       f"{', '.join(REVOCATION_REASONS)}")
    ca_cert, ca_key = _load_ca(ca_dir)
    if isinstance(cert_path_or_serial, int):
        serial = cert_path_or_serial
        if serial < 1:
            raise PkiError(f"serial number must be positive, not {serial}")
    else:
        path = Path(cert_path_or_serial)
        cert = _load_cert(path)
        if cert.issuer != ca_cert.subject or not _signed_by(cert, ca_cert):
            raise PkiError(f"{path}: not issued by the CA in {ca_dir}")
        if _is_ca(cert):
            raise PkiError(f"{path}: the CA certificate cannot be revoked; create a new CA instead")
        serial = cert.serial_number
    if serial == ca_cert.serial_number:
        raise PkiError(f"serial {serial:#x} is the CA's own; create a new CA instead")

    crl_path = ca_dir / CRL_FILE
    # Two administrators revoking at once must not lose one of the entries.
    with _locked(ca_dir / ".crl.lock"):
        old = _load_crl(crl_path, ca_cert) if crl_path.exists() else None
        if old is not None and old.get_revoked_certificate_by_serial_number(serial) is not None:
            return serial
        now = _now()
        number = 1
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_cert.subject)
            .last_update(now)
            # Nothing in hpcq treats a CRL as stale; a next update at the CA's own end
            # keeps tools that do (openssl crl -verify) from calling it expired.
            .next_update(max(ca_cert.not_valid_after_utc, now + dt.timedelta(days=1)))
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if old is not None:
            for entry in old:
                builder = builder.add_revoked_certificate(entry)
            try:
                number = old.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
            except x509.ExtensionNotFound:
                pass
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now)
        if flag is not x509.ReasonFlags.unspecified:   # RFC 5280 5.3.1: omit rather than say unspecified
            entry = entry.add_extension(x509.CRLReason(flag), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
        builder = builder.add_extension(x509.CRLNumber(number), critical=False)
        crl = builder.sign(ca_key, hashes.SHA256())
        _write_public(crl_path, crl.public_bytes(serialization.Encoding.PEM))
    return serial


class RevocationList:
    """The revoked serials of one CRL file, re-read whenever the file changes.

    `is_revoked` costs one stat() when nothing changed, so it can be asked on every
    RPC. A missing file means nothing is revoked yet, and is picked up once it
    appears. A file that stops parsing (or, given `ca`, is not signed by it) after a
    good load is logged and the last good list kept: a broken CRL must neither take
    the cluster down nor silently un-revoke everything.
    """

    def __init__(self, path: Path, ca: x509.Certificate | None = None) -> None:
        self.path = Path(path)
        self._ca = ca
        self._stamp: tuple[int, int, int] | None = None
        self._serials: frozenset[int] = frozenset()
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, ca: str | os.PathLike[str] | None = None) -> RevocationList:
        """Read `path` now; raise PkiError if it exists but is not a CRL (or, given the
        CA certificate file `ca`, is not signed by it)."""
        ca_cert = _load_cert(Path(ca)) if ca is not None else None
        crl = cls(Path(path), ca_cert)
        crl._refresh(strict=True)
        return crl

    @property
    def serials(self) -> frozenset[int]:
        """Every revoked serial, as of the file's current content."""
        self._refresh(strict=False)
        return self._serials

    def is_revoked(self, serial: int) -> bool:
        return serial in self.serials

    def _refresh(self, *, strict: bool) -> None:
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
        except FileNotFoundError:
            stamp = None
        except OSError as e:
            if strict:
                raise PkiError(f"{self.path}: {e.strerror}") from None
            return
        if stamp == self._stamp:
            return
        with self._lock:
            if stamp == self._stamp:
                return
            try:
                serials = frozenset() if stamp is None else frozenset(
                    r.serial_number for r in _load_crl(self.path, self._ca)
                )
            except PkiError as e:
                if strict:
                    raise
                log.error("%s; keeping the %d revocations read before", e, len(self._serials))
                self._stamp = stamp   # do not re-read (and re-log) until the file changes again
                return
            if stamp is None and self._serials:
                log.warning("%s was removed: no certificate is revoked any more", self.path)
            self._serials, self._stamp = serials, stamp


# --- helpers --------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check_days(days: int) -> None:
    if days < 1:
        raise PkiError(f"validity must be at least 1 day, not {days}")


def _host_names() -> list[str]:
    """Names this host is dialled by; a separate function so tests can pin them."""
    return [n for n in (socket.gethostname(), socket.getfqdn()) if n]


def _general_names(names: Sequence[str]) -> list[x509.GeneralName]:
    """IP-looking names become IPAddress SANs (TLS matches IPs only there), others DNS."""
    out: list[x509.GeneralName] = []
    for n in dict.fromkeys(names):  # de-duplicate, keep order
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            try:
                out.append(x509.DNSName(n))
            except ValueError as e:
                raise PkiError(f"subject alternative name {n!r}: {e}") from None
    return out


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _single(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    attrs = name.get_attributes_for_oid(oid)
    if len(attrs) != 1 or not isinstance(attrs[0].value, str):
        return None
    return attrs[0].value


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise PkiError(f"{path}: {e.strerror}") from None


def _load_key(path: Path) -> tuple[bytes, PrivateKeyTypes]:
    """PEM bytes and parsed key, after the permission check of `load_key_file`.
    Parsing here gives an error that names the file; grpc's would not."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as e:
        raise PkiError(f"{path}: {e.strerror}") from None
    if mode & 0o077:
        raise PkiError(
            f"{path}: permissions {mode:04o} are too open; "
            f"a private key must not be accessible by others (chmod 600 {path})"
        )
    data = _read(path)
    try:
        return data, serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise PkiError(f"{path}: private key is encrypted; hpcq needs an unencrypted key") from None
    except (ValueError, UnsupportedAlgorithm):
        raise PkiError(f"{path}: not a PEM private key") from None


def _load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(_read(path))
    except ValueError:
        raise PkiError(f"{path}: not a PEM certificate") from None


def _read_cert_pem(path: Path) -> bytes:
    """Read a certificate, checking it parses: grpc's own error would not name the file."""
    return _pem(_load_cert(Path(path)))


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _load_pair(
    cert_path: Path, key_path: Path
) -> tuple[x509.Certificate, PrivateKeyTypes, bytes]:
    """Certificate, key and key PEM, checked to belong together (a common mix-up that
    grpc would only report as a failed handshake)."""
    cert_path, key_path = Path(cert_path), Path(key_path)
    key_pem, key = _load_key(key_path)
    cert = _load_cert(cert_path)
    if key.public_key() != cert.public_key():
        raise PkiError(f"{cert_path}: certificate does not match the key in {key_path}")
    return cert, key, key_pem


def _load_ca(ca_dir: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    crt_path, key_path = ca_dir / CA_CERT, ca_dir / CA_KEY
    if not key_path.exists():
        raise PkiError(f"{key_path}: no CA key here; create one with `hpcqctl certs init`")
    cert, key, _ = _load_pair(crt_path, key_path)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{key_path}: expected an EC private key")
    if not _is_ca(cert):
        raise PkiError(f"{crt_path}: not a CA certificate")
    return cert, key


def _signed_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _load_crl(path: Path, ca_cert: x509.Certificate | None) -> x509.CertificateRevocationList:
    try:
        crl = x509.load_pem_x509_crl(_read(path))
    except ValueError:
        raise PkiError(f"{path}: not a PEM certificate revocation list") from None
    if ca_cert is not None and (
        crl.issuer != ca_cert.subject or not crl.is_signature_valid(ca_cert.public_key())  # type: ignore[arg-type]
    ):
        raise PkiError(f"{path}: revocation list not signed by the CA {ca_cert.subject.rfc4514_string()}")
    return crl


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive flock on `path` (created 0600) for the duration of a with-block."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise PkiError(f"{path}: {e.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)   # releases the lock


def _make_dir(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise PkiError(f"{directory}: {e.strerror}") from None


def _write_private(path: Path, data: bytes) -> None:
    _write_atomic(path, data, 0o600)


def _write_public(path: Path, data: bytes) -> None:
    _write_atomic(path, data, 0o644)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write via a temporary file so a reader never sees half a key, and so a key
    is never, even briefly, on disk with a wider mode than `mode`."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                os.fchmod(f.fileno(), mode)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        raise PkiError(f"{path}: {e.strerror}") from None
