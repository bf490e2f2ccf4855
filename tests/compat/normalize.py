"""The one normalisation applied to both sides of a golden comparison: what differs
between any two runs of the same scenario — when (times), where (hosts) and which
ids the sequence handed out — is replaced by a placeholder; nothing else is touched.

- Times: ``2026-11-23T13:08:07`` -> ``<ISO>``; ``Mon Nov 23 13:08:07 2026`` -> ``<CTIME>``;
  PBS's ``Mon Nov 23 at 12:39`` -> ``<AT>``; Unix seconds in JSON (``"timestamp":<TAB>1795437555``,
  node times) -> ``<EPOCH>``. Elapsed times (``0:02``, ``00:00:39``) are kept: a scenario
  sets its clock, and a wrong elapsed time is a bug.
- Hosts: the capture's host and server names (``vm``, ``pbshost``, ``localhost``) and
  those a test names -> ``<HOST>``; the Slurm cluster name (``anchor``) -> ``<CLUSTER>``;
  Slurm's submit session (``AllocNode:Sid=<host>:2368``) -> ``<SID>``.
- Ids: the job ids a test names -> ``<J1>``, ``<J2>``... by rank, so that a scenario
  replayed with other ids compares equal while their order still matters. An id is
  replaced where it can only be a job id: in PBS's ``21.pbshost`` / ``10[].pbshost``
  form, or when it has four digits or more (Slurm's); ``1`` alone may be a count.

Column widths are not normalised: replayed with ids and host names of the capture's
lengths (as the unit goldens are), every byte of layout is still compared.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

CAPTURE_HOSTS = ("pbshost", "localhost", "vm")
CAPTURE_CLUSTER = "anchor"

_ISO = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\b")
_CTIME = re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                    r"[ \d]\d \d\d:\d\d:\d\d \d{4}\b")
_AT = re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                 r"\d\d at \d\d:\d\d\b")
_EPOCH = re.compile(r'("(?:timestamp|last_state_change_time|last_used_time|history_timestamp)":\t)\d+')
_SID = re.compile(r"(AllocNode:Sid=)\S+")
# A number that can only be a job id: ``21`` of ``21.pbshost`` / ``21[].host``, or four digits or more.
_ID = re.compile(r"(?<![\w.])(?:(\d+)(?=(?:\[\d*\])?\.[A-Za-z])|(\d{4,})(?!\d))")


def _word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")


def normalize(text: str, *, hosts: Iterable[str] = (), job_ids: Iterable[int] = ()) -> str:
    """`text` with times, hosts and job ids replaced by placeholders (see the module)."""
    text = _SID.sub(r"\1<SID>", text)
    text = _ISO.sub("<ISO>", text)
    text = _CTIME.sub("<CTIME>", text)
    text = _AT.sub("<AT>", text)
    text = _EPOCH.sub(r"\1<EPOCH>", text)
    ranks = {str(job_id): f"<J{rank}>" for rank, job_id in enumerate(sorted(set(job_ids)), start=1)}
    if ranks:
        text = _ID.sub(lambda m: ranks.get(m[1] or m[2], m[0]), text)
    for host in sorted({*CAPTURE_HOSTS, *hosts}, key=len, reverse=True):
        text = _word(host).sub("<HOST>", text)
    return _word(CAPTURE_CLUSTER).sub("<CLUSTER>", text)
