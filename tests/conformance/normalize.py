"""The one normaliser of the conformance suite, applied alike to Slurm's and hpcq's output
of a case: what legitimately differs between two live systems running the same jobs a
few seconds apart is replaced; nothing else is touched.

The systems are built so that most things need no rule: the node is named as the host on
both, the cluster name is the same, the jobs run from the same directory (so paths are
equal), and the scenario's jobs are submitted in the same order to two fresh systems, so
they have the same ids (the harness checks it). What is left, one rule each:

- ``when``: clock times. ISO times (``2026-12-05T23:31:38``) and ctime dates
  (``Sat Dec 05 23:31:38 2026``) keep their shape, every digit becomes ``9`` (and a
  day's or month's letter ``x``): a field's
  width, padding and spelling are still compared, the instant is not.
- ``elapsed``: durations (``0:05``, ``1-02:03:04``, ``00:00:01.234``) keep their shape the
  same way: a job runs a few seconds longer on one system than on the other.
- ``session``: the submitting session (``AllocNode:Sid=localhost:4242``): the host as
  slurmctld resolved the submitter's address, and the submitting shell's process id.
- ``priority``: ``Priority=4294901759``. Slurm's default priority/basic numbers jobs down
  from 2^32 in submission order; hpcq, its multifactor weights set to 0 for the suite,
  orders them the same way with other numbers. (squeue's own priority fields are cases
  in the allowlist.)
- ``load``: a node's momentary figures (``CPULoad=0.35``, ``FreeMem=12345``).
- ``new-id``: the id a case's own submission was given (``Submitted batch job 42``):
  two systems that refused a different earlier submission count differently from then on.
- ``volatile``: for a case whose fields are raw seconds or counters of a running job
  (``ElapsedRaw``, ``CPUTimeRAW``), every number keeps only its presence (``<n>``).
"""
from __future__ import annotations

import re

_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[A-Za-z]")
_ISO = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\b")
_CTIME = re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                    r"[ \d]\d \d\d:\d\d:\d\d \d{4}\b")
_ELAPSED = re.compile(r"(?<![\w:.-])(?:\d+-)?(?:\d+:)?\d+:\d\d(?:\.\d+)?(?![\w:])")
_SESSION = re.compile(r"(AllocNode:Sid=)\S+")
_PRIORITY = re.compile(r"\b(Priority=)\d+")
_LOAD = re.compile(r"\b(CPULoad=|FreeMem=)[\d.]+|\b(CPULoad=|FreeMem=)N/A")
_NEW_ID = re.compile(r"(Submitted batch job )\d+\b")
_NUMBER = re.compile(r"\d+")


def _shape(match: re.Match[str]) -> str:
    return _DIGIT.sub("9", match[0])


def _date_shape(match: re.Match[str]) -> str:
    return _LETTER.sub("x", _shape(match))


def normalize(text: str, *, volatile: bool = False) -> str:
    """`text` with the legitimately varying parts replaced (see the module)."""
    text = _SESSION.sub(r"\1<session>", text)
    text = _PRIORITY.sub(r"\1<priority>", text)
    text = _LOAD.sub(lambda m: (m[1] or m[2]) + "<load>", text)
    text = _NEW_ID.sub(r"\1<new-id>", text)
    text = _ISO.sub(_shape, text)
    text = _CTIME.sub(_date_shape, text)
    text = _ELAPSED.sub(_shape, text)
    if volatile:
        text = _NUMBER.sub("<n>", text)
    return text
