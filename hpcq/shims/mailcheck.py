"""A submit that asks for mail on a cluster whose controller has no mail program: the
shims say so at once instead of accepting it silently (ctld can only log it, where the
user never looks). Asked only when the job asks for mail, so other submits cost nothing."""
from __future__ import annotations

import sys

from hpcq.shims.connection import Connection
from hpcq.slurmconf import NO_MAIL_PROGRAM


def warn_if_unsent(conn: Connection, command: str, asked: str) -> None:
    """`asked`: the mail option as the user gave it, for the warning."""
    if conn.client.server_info().settings.get("MailProg") == NO_MAIL_PROGRAM:
        print(f"{command}: warning: the cluster has no mail program: no mail will be sent for {asked}",
              file=sys.stderr)
