"""`hpcqctl certs …`: run the cluster CA (init), hand out certificates (issue), see
what will expire (list), and withdraw one (revoke)."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from hpcq import pki
from hpcq.config import hpcq_home

__all__ = ["add_parser", "cmd_init", "cmd_issue", "cmd_list", "cmd_revoke", "default_pki_dir",
           "resolve_revocation_target"]


def default_pki_dir() -> Path:
    """`$HPCQ_HOME/pki`, HPCQ_HOME defaulting to ~/.local/state/hpcq (XDG state)."""
    return hpcq_home() / "pki"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `certs init|issue|list|revoke`; each sets `func` to its `cmd_*`."""
    certs = subparsers.add_parser("certs", help="manage the cluster CA and certificates")
    sub = certs.add_subparsers(dest="certs_command", metavar="COMMAND", required=True)
    dir_help = "PKI directory (default: $HPCQ_HOME/pki)"

    p = sub.add_parser("init", help="create the cluster CA (ca.crt, ca.key)")
    p.add_argument("--dir", type=Path, default=None, help=dir_help)
    p.add_argument("--cluster", default="hpcq", help="cluster name recorded in every certificate")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("issue", help="sign a certificate for a principal")
    p.add_argument("role", metavar="ROLE", choices=pki.ROLES, help=", ".join(pki.ROLES))
    p.add_argument("name", metavar="NAME", help="login, node or host name (certificate CN)")
    p.add_argument("--dir", type=Path, default=None, help="CA directory (default: $HPCQ_HOME/pki)")
    p.add_argument("--out", type=Path, default=None, help="where to write NAME.crt/.key (default: the CA directory)")
    p.add_argument("--san", action="append", default=[], metavar="X",
                   help="extra DNS name or IP address; repeatable")
    p.add_argument("--days", type=int, default=365, help="validity in days (default: 365)")
    p.add_argument("--basename", default=None, metavar="FILE",
                   help="write FILE.crt/.key instead of NAME.crt/.key (a node's host certificate for its "
                        "agent shares the node's name: --basename agent)")
    p.set_defaults(func=cmd_issue)

    p = sub.add_parser("list", help="show certificates and when they expire (revoked ones say so)")
    p.add_argument("--dir", type=Path, default=None, help=dir_help)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("revoke", help="put a certificate on the revocation list (crl.pem)")
    p.add_argument("target", metavar="NAME_OR_FILE_OR_SERIAL",
                   help="a certificate file, a name (NAME.crt or the CN of one certificate in the "
                        "CA directory), or a serial number (decimal, 0x hex, or openssl's aa:bb:... form)")
    p.add_argument("--dir", type=Path, default=None, help="CA directory (default: $HPCQ_HOME/pki)")
    p.add_argument("--reason", default="unspecified", choices=sorted(pki.REVOCATION_REASONS),
                   type=lambda text: text.replace("-", "_"),
                   metavar="REASON", help="RFC 5280 reason: " + ", ".join(pki.REVOCATION_REASONS))
    p.set_defaults(func=cmd_revoke)
    return certs


def cmd_init(args: argparse.Namespace) -> int:
    directory = args.dir or default_pki_dir()
    return _run(lambda: _report(pki.init_ca(directory, args.cluster)))


def cmd_issue(args: argparse.Namespace) -> int:
    ca_dir = args.dir or default_pki_dir()
    out = args.out or ca_dir
    return _run(lambda: _report(pki.issue(
        ca_dir, args.role, args.name, out, sans=args.san, days=args.days, basename=args.basename
    )))


def cmd_list(args: argparse.Namespace) -> int:
    directory = args.dir or default_pki_dir()

    def show() -> None:
        rows = [("NAME", "ROLE", "EXPIRES", "DAYS_LEFT", "FILE")]
        # A revoked certificate has no days left whatever its dates say; saying so in
        # that column keeps the columns those who parse this output rely on.
        rows += [
            (c.name, c.role, c.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "revoked" if c.revoked else str(c.days_left), str(c.path))
            for c in pki.list_certs(directory)
        ]
        # Names may contain spaces in principle; FILE is last so a parser splitting on
        # whitespace still finds the other columns in place.
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            print("  ".join([*(v.ljust(w) for v, w in zip(r, widths, strict=False)), r[4]]))  # FILE unpadded

    return _run(show)


def cmd_revoke(args: argparse.Namespace) -> int:
    ca_dir = args.dir or default_pki_dir()

    def revoke() -> None:
        target, what = resolve_revocation_target(ca_dir, args.target)
        serial = pki.revoke(ca_dir, target, reason=args.reason)
        print(f"revoked {what} (serial {serial:#x}); wrote {ca_dir / pki.CRL_FILE}")

    return _run(revoke)


def resolve_revocation_target(ca_dir: Path, text: str) -> tuple[Path | int, str]:
    """What `certs revoke` was given, and how to name it in the report.

    A file wins over a name, and a name over a serial: a login may well be all digits,
    and one can always say 0x… to mean a serial.
    """
    path = Path(text)
    if path.is_file():
        return path, str(path)
    if "/" not in text and (ca_dir / f"{text}.crt").is_file():
        return ca_dir / f"{text}.crt", str(ca_dir / f"{text}.crt")
    if ca_dir.is_dir():
        named = [c for c in pki.list_certs(ca_dir) if c.name == text and c.role != "ca"]
        if len(named) > 1:
            files = ", ".join(str(c.path) for c in named)
            raise pki.PkiError(f"{text!r} names several certificates ({files}); give the file")
        if named:
            return named[0].path, f"{named[0].path} ({text})"
    serial = _parse_serial(text)
    if serial is None:
        raise pki.PkiError(f"{text}: no such certificate file, no {text}.crt or certificate named "
                           f"{text!r} in {ca_dir}, and not a serial number")
    return serial, f"serial {serial:#x}"


def _parse_serial(text: str) -> int | None:
    """Decimal, ``0x``-prefixed hex, or openssl's colon-separated hex bytes (``4a:3b:…``)."""
    try:
        if text.isdecimal() and text.isascii():
            return int(text)
        if text[:2].lower() == "0x":
            return int(text[2:], 16)
        if ":" in text and all(len(b) == 2 for b in text.split(":")):
            return int(text.replace(":", ""), 16)
    except ValueError:
        pass
    return None


def _report(paths: tuple[Path, Path]) -> None:
    crt, key = paths
    print(f"wrote {crt}")
    print(f"wrote {key} (mode 0600)")


def _run(action: Callable[[], None]) -> int:
    """Do `action`, turning a PkiError into the `hpcqctl: <message>` form and exit 1."""
    try:
        action()
    except pki.PkiError as e:
        print(f"hpcqctl: {e}", file=sys.stderr)
        return 1
    return 0
