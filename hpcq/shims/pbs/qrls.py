"""qrls: release held jobs (qhold's options; see qhold.py)."""
from __future__ import annotations

from hpcq.shims.pbs import qhold
from hpcq.shims.shim import Shim

command = Shim.pbs("qrls", lambda argv, conn: qhold.act("qrls", argv, conn))
main = command.main
