"""qrls: release held jobs (qhold's options; see qhold.py)."""
from __future__ import annotations

from hpcq.shims import common
from hpcq.shims.pbs import actions, qhold


def main(argv: list[str] | None = None) -> int:
    return actions.run("qrls", argv, lambda args, conn: qhold.act("qrls", args, conn))


command = common.entry_point(main)

if __name__ == "__main__":
    command()
