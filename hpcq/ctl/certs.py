"""`hpcqctl certs …`: run the cluster CA (init), hand out certificates (issue), and
see what will expire (list)."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from hpcq import pki
from hpcq.config import hpcq_home

__all__ = ["add_parser", "cmd_init", "cmd_issue", "cmd_list", "default_pki_dir"]


def default_pki_dir() -> Path:
    """`$HPCQ_HOME/pki`, HPCQ_HOME defaulting to ~/.local/state/hpcq (XDG state)."""
    return hpcq_home() / "pki"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `certs init|issue|list`; each sets `func` to its `cmd_*`."""
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
    p.set_defaults(func=cmd_issue)

    p = sub.add_parser("list", help="show certificates and when they expire")
    p.add_argument("--dir", type=Path, default=None, help=dir_help)
    p.set_defaults(func=cmd_list)
    return certs


def cmd_init(args: argparse.Namespace) -> int:
    directory = args.dir or default_pki_dir()
    return _run(lambda: _report(pki.init_ca(directory, args.cluster)))


def cmd_issue(args: argparse.Namespace) -> int:
    ca_dir = args.dir or default_pki_dir()
    out = args.out or ca_dir
    return _run(lambda: _report(pki.issue(
        ca_dir, args.role, args.name, out, sans=args.san, days=args.days
    )))


def cmd_list(args: argparse.Namespace) -> int:
    directory = args.dir or default_pki_dir()

    def show() -> None:
        rows = [("NAME", "ROLE", "EXPIRES", "DAYS_LEFT", "FILE")]
        rows += [
            (c.name, c.role, c.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"), str(c.days_left), str(c.path))
            for c in pki.list_certs(directory)
        ]
        # Names may contain spaces in principle; FILE is last so a parser splitting on
        # whitespace still finds the other columns in place.
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            print("  ".join([*(v.ljust(w) for v, w in zip(r, widths)), r[4]]))

    return _run(show)


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
