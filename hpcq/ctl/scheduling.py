"""`hpcqctl job explain` and `hpcqctl share …`: why a job waits, and fair-share shares."""
from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    job = subparsers.add_parser("job", help="explain a job's scheduling")
    jsub = job.add_subparsers(dest="job_command", metavar="ACTION", required=True)
    explain = jsub.add_parser("explain", help="why a job is pending: reason, priority factors, planned start")
    explain.add_argument("job_id", type=int)
    explain.add_argument("--json", action="store_true", help="print JSON for scripts")
    explain.set_defaults(func=cmd_explain)

    share = subparsers.add_parser("share", help="fair-share: shares of accounts and users")
    ssub = share.add_subparsers(dest="share_command", metavar="ACTION", required=True)
    listing = ssub.add_parser("list", help="configured shares and decayed usage")
    listing.add_argument("--json", action="store_true", help="print JSON for scripts")
    listing.set_defaults(func=cmd_share_list)
    setting = ssub.add_parser("set", help="set the shares of an account, or of a user in it")
    setting.add_argument("account")
    setting.add_argument("shares", type=int)
    setting.add_argument("--user", default="", help="a user inside the account")
    setting.set_defaults(func=cmd_share_set)


def _client():
    from hpcq.ctl.connect import admin_client
    return admin_client()


def cmd_explain(args: argparse.Namespace) -> int:
    with _client() as client:
        reply = client.explain(args.job_id)
    if args.json:
        from google.protobuf import json_format
        print(json.dumps(json_format.MessageToDict(reply), indent=2))
    else:
        print("\n".join(reply.lines))
    return 0


def cmd_share_list(args: argparse.Namespace) -> int:
    with _client() as client:
        shares = client.shares()
    if args.json:
        print(json.dumps([{"account": s.account, "user": s.user, "shares": s.shares, "usage": s.usage}
                          for s in shares], indent=2))
        return 0
    print(f"{'ACCOUNT':<16} {'USER':<12} {'SHARES':>7} {'USAGE_CPU_S':>14}")
    for s in shares:
        print(f"{s.account:<16} {s.user:<12} {s.shares:>7} {s.usage:>14.0f}")
    return 0


def cmd_share_set(args: argparse.Namespace) -> int:
    with _client() as client:
        client.set_share(args.account, args.shares, args.user)
    print(f"{args.account}{'/' + args.user if args.user else ''}: {args.shares} shares")
    return 0
