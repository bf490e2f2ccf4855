"""`hpcqctl tail [-f] [-e] [--step S] JOB`: a running job's output, read on its node
through the API (Jobs.Output), for PBS users and web tools that share no file system with
the nodes. As the job's owner (or staff): through the host agent, else the [client]
certificate, as the PBS and Slurm commands connect."""
from __future__ import annotations

import argparse
import sys

# ctld's refusals in words a user acts on (the stable token before ": ").
_REFUSALS = {
    "UNKNOWN_JOB": "unknown job",
    "JOB_PENDING": "the job has not started yet",
    "JOB_NOT_RUNNING": "the job is not running (its output file is in place on its node)",
    "UNKNOWN_STEP": "no such running step",
}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    tail = subparsers.add_parser("tail", help="print a running job's output as it is written (through the API, "
                                              "no shared file system needed)")
    tail.add_argument("job_id", type=job_number, metavar="JOB", help="a job id: 12, or PBS's 12.server")
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing what the job writes until it ends")
    tail.add_argument("-e", "--stderr", action="store_true", help="the job's error file instead of its output file")
    tail.add_argument("--step", type=int, metavar="STEP",
                      help="follow while this srun step runs (its output goes to the job's files)")
    tail.add_argument("--offset", type=int, default=0, metavar="BYTES", help="start at this byte of the file")
    tail.set_defaults(func=cmd_tail)


def job_number(text: str) -> int:
    number, _, server = text.partition(".")
    if not number.isdigit() or (_ and not server):
        raise argparse.ArgumentTypeError(f"{text!r} is not a job id")
    return int(number)


def cmd_tail(args: argparse.Namespace) -> int:
    from hpcq.client import Client
    from hpcq.errors import HpcqError
    out = sys.stdout.buffer
    try:
        with Client.connect() as client:
            for data in client.output(args.job_id, step_id=args.step, stderr=args.stderr, follow=args.follow,
                                      offset=args.offset):
                out.write(data)
                out.flush()
    except HpcqError as e:
        token, _, detail = e.message.partition(": ")
        words = _REFUSALS.get(token) or ("not your job" if e.code == "PERMISSION_DENIED" else detail or e.message)
        print(f"hpcqctl: tail {args.job_id}: {words}", file=sys.stderr)
        return 1
    return 0
