"""Every option of OpenPBS 23.06's qsub, qstat, qdel, qalter, qselect and pbsnodes, and
every job attribute a qsub option sets, run through hpcq's shims: an option hpcq refuses
or accepts without doing what PBS does, and an attribute ``qstat -f`` does not show, fail
unless allowlist.toml lists it with the reason (case ids ``qstat -q``, ``qsub -W block``,
``qstat -f:group_list``). An entry for something hpcq does as PBS does fails too.

The option letters are OpenPBS's own: the getopt strings of src/cmds/ (Linux build) of
openpbs/openpbs, which the reference guide's sections document; the test fails when a
letter there has no row here. PBS's own outputs are checked by test_pbs_goldens.py; this
module checks that nothing of the documented surface is silently missing.
"""
from __future__ import annotations

import re

import pytest

from hpcq.api import jobs_pb2
from tests.compat import fake
from tests.compat import pbs_world as pw
from tests.compat.allowlist import reason
from tests.compat.test_pbs_goldens import MAINS

# OpenPBS 23.06 (openpbs/openpbs src/cmds): qsub_sup.c GETOPT_ARGS, qstat.c, qdel.c,
# qalter.c, qselect.c GETOPT_ARGS, pbsnodes.c's getopt call.
REFERENCE_GETOPT = {
    "qsub": "a:A:c:C:e:fhIj:J:k:l:m:M:N:o:p:q:r:R:S:u:v:VW:XzP:",
    "qstat": "ainpqrstwxu:fGHJMQEBW:T1F:D:",
    "qdel": "W:x",
    "qalter": "a:A:c:e:h:j:k:l:m:M:N:o:p:r:R:S:u:W:P:",
    "qselect": "a:A:c:h:HJl:N:p:q:r:s:t:Tu:xP:",
    "pbsnodes": "acC:dD:F:HjlLoqrs:Sv",
}
# qsub -W's attributes the reference guide documents.
QSUB_W = ("block", "depend", "group_list", "interactive", "max_run_subjobs", "pwd", "release_nodes_on_stageout",
          "run_count", "sandbox", "stagein", "stageout", "umask")

JOB = "23.pbshost"                  # queued_one, the pbs_world's queued job
# case id -> the command line: one row per option (and -W attribute), with a sample value.
ROWS: dict[str, list[str]] = {
    **{f"qsub -{o}": ["qsub", f"-{o}", *v, "job.sh"] for o, v in {
        "a": ["1230"], "A": ["acct"], "c": ["n"], "C": ["#XX"], "e": ["err.txt"], "f": [], "h": [], "I": [],
        "j": ["oe"], "J": ["1-3"], "k": ["oe"], "l": ["walltime=00:01:00"], "m": ["abe"], "M": ["a@b.c"],
        "N": ["nm"], "o": ["out.txt"], "p": ["10"], "q": ["workq"], "r": ["y"], "R": ["oe"], "S": ["/bin/sh"],
        "u": ["pbsuser"], "v": ["A=1"], "V": [], "X": [], "z": [], "P": ["proj"]}.items()},
    **{f"qsub -W {w}": ["qsub", "-W", f"{w}={v}", "job.sh"] for w, v in {
        "block": "true", "depend": "afterok:21", "group_list": "pbsuser", "interactive": "true",
        "max_run_subjobs": "2", "pwd": "/tmp", "release_nodes_on_stageout": "true", "run_count": "2",
        "sandbox": "PRIVATE", "stagein": "in@pbshost:/tmp/in", "stageout": "out@pbshost:/tmp/out",
        "umask": "022"}.items()},
    **{f"qstat -{o}": ["qstat", f"-{o}", *v] for o, v in {
        "a": [], "i": [], "n": [], "p": [], "q": [], "r": [], "s": [], "t": [], "w": [], "x": [],
        "u": ["pbsuser"], "f": [], "G": [], "H": [], "J": [], "M": [], "Q": [], "E": [], "B": [],
        "W": ["x"], "T": [], "1": [], "F": ["json"], "D": ["|"]}.items()},
    "qdel -W force": ["qdel", "-W", "force", JOB],
    "qdel -W suppress_email": ["qdel", "-W", "suppress_email=5", JOB],
    "qdel -x": ["qdel", "-x", JOB],
    **{f"qalter -{o}": ["qalter", f"-{o}", v, JOB] for o, v in {
        "a": "1230", "A": "acct", "c": "n", "e": "err", "h": "u", "j": "oe", "k": "oe",
        "l": "walltime=00:02:00", "m": "abe", "M": "a@b.c", "N": "nm", "o": "out", "p": "5", "r": "y",
        "R": "oe", "S": "/bin/sh", "u": "pbsuser", "W": "depend=afterok:21", "P": "proj"}.items()},
    **{f"qselect -{o}": ["qselect", f"-{o}", *v] for o, v in {
        "a": ["1230"], "A": ["acct"], "c": ["n"], "h": ["u"], "H": [], "J": [], "l": ["walltime.gt.00:01:00"],
        "N": ["nm"], "p": ["5"], "q": ["workq"], "r": ["y"], "s": ["Q"], "t": ["qtime.gt.1230"], "T": [],
        "u": ["pbsuser"], "x": [], "P": ["proj"]}.items()},
    **{f"pbsnodes -{o}": ["pbsnodes", *argv] for o, argv in {
        "a": ["-a"], "c": ["-c", "pbshost"], "C": ["-C", "note", "pbshost"], "d": ["-d", "pbshost"],
        "D": ["-a", "-F", "dsv", "-D", "|"], "F": ["-a", "-F", "json"], "H": ["-H", "pbshost"], "j": ["-j"],
        "l": ["-l"], "L": ["-L"], "o": ["-o", "pbshost"], "q": ["-q", "-a"], "r": ["-r", "pbshost"],
        "s": ["-s", "pbshost", "-a"], "S": ["-S"], "v": ["-v", "pbshost"]}.items()},
    **{f"{command} --version": [command, "--version"] for command in REFERENCE_GETOPT},
}
# Options that change the server (pbsnodes -o/-r need an administrator's certificate, which
# the compat world has not: they are checked with one in tests/integration).
NEEDS_ADMIN = frozenset({"pbsnodes -o", "pbsnodes -r"})


def _letters(getopt: str) -> set[str]:
    return set(re.sub(r":", "", getopt))


def test_every_reference_option_has_a_row() -> None:
    for command, getopt in REFERENCE_GETOPT.items():
        rows = {case.split()[1][1:] for case in ROWS if case.startswith(f"{command} -") and "--" not in case}
        assert rows == _letters(getopt), command
    assert {case.split()[2] for case in ROWS if case.startswith("qsub -W ")} == set(QSUB_W)
    assert {case for case in ROWS if case.endswith("--version")} == {f"{c} --version" for c in REFERENCE_GETOPT}


def run(argv: list[str], monkeypatch, tmp_path) -> fake.Output:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.sh").write_text("#!/bin/sh\ntrue\n")
    return fake.run(MAINS[argv[0]], argv[1:], pw.pbshost(), monkeypatch)


# Accepted without PBS's effect: what hpcq takes and keeps with the job but does not act on.
NO_EFFECT = frozenset({"qsub -c", "qsub -u", "qsub -W block", "qsub -W group_list", "qsub -W interactive",
                       "qsub -W max_run_subjobs", "qsub -W pwd", "qsub -W release_nodes_on_stageout",
                       "qsub -W run_count", "qsub -W sandbox", "qsub -W stagein", "qsub -W stageout",
                       "qdel -W suppress_email", "qalter -c", "qalter -u"})


@pytest.mark.parametrize("case", sorted(set(ROWS) - NEEDS_ADMIN))
def test_option_is_supported_or_its_difference_is_listed(case: str, monkeypatch, tmp_path) -> None:
    out = run(ROWS[case], monkeypatch, tmp_path)
    differs = out.exit != 0 or case in NO_EFFECT
    why = reason(case)
    if differs:
        assert why, f"{case}: {'refused: ' + out.stderr.strip() if out.exit else 'accepted without effect'}, " \
                    "and not in tests/compat/allowlist.toml"
    else:
        assert why is None, f"{case}: hpcq does it as PBS does, but the allowlist says: {why}"


# -- the job attributes qsub's options set -------------------------------------------------

# qsub option -> the attribute ``qstat -f`` shows for it (OpenPBS reference guide, Job Attributes).
ATTRIBUTES = {
    "qsub -a": "Execution_Time", "qsub -A": "Account_Name", "qsub -c": "Checkpoint", "qsub -e": "Error_Path",
    "qsub -h": "Hold_Types", "qsub -j": "Join_Path", "qsub -k": "Keep_Files", "qsub -l": "Resource_List.walltime",
    "qsub -m": "Mail_Points", "qsub -M": "Mail_Users", "qsub -N": "Job_Name", "qsub -o": "Output_Path",
    "qsub -p": "Priority", "qsub -q": "queue", "qsub -r": "Rerunable", "qsub -R": "Remove_Files",
    "qsub -S": "Shell_Path_List", "qsub -u": "User_List", "qsub -v": "Variable_List", "qsub -P": "project",
    "qsub -J": "array_indices_submitted", "qsub -W block": "block", "qsub -W depend": "depend",
    "qsub -W group_list": "group_list", "qsub -W max_run_subjobs": "max_run_subjobs",
    "qsub -W release_nodes_on_stageout": "release_nodes_on_stageout", "qsub -W run_count": "run_count",
    "qsub -W sandbox": "sandbox", "qsub -W stagein": "stagein", "qsub -W stageout": "stageout",
    "qsub -W umask": "umask",
}


def _submitted(case: str, monkeypatch, tmp_path) -> str:
    """``qstat -f`` of the job a qsub row submits, as ctld would hold it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.sh").write_text("#!/bin/sh\ntrue\n")
    world = pw.pbshost()
    assert fake.run(MAINS["qsub"], ROWS[case][1:], world, monkeypatch).exit == 0
    spec = world.submitted[-1]
    job = jobs_pb2.Job(id=25, spec=spec, user="pbsuser", state=jobs_pb2.HELD if spec.hold else jobs_pb2.PENDING,
                       queue=spec.queue or "workq", submit_time=world.now, eligible_time=world.now, attempt=1,
                       walltime_seconds=spec.walltime_seconds)
    if spec.array.tasks:
        job.array_job_id, job.array_tasks_pending = 25, spec.array.tasks
    world.add(job)
    out = fake.run(MAINS["qstat"], ["-f", "25[].pbshost" if spec.array.tasks else "25.pbshost"], world, monkeypatch)
    return out.stdout


@pytest.mark.parametrize("case", sorted(ATTRIBUTES))
def test_attribute_is_shown_or_its_absence_is_listed(case: str, monkeypatch, tmp_path) -> None:
    attribute = ATTRIBUTES[case]
    shown = re.search(rf"^    {re.escape(attribute)} = ", _submitted(case, monkeypatch, tmp_path), re.MULTILINE)
    why = reason(f"qstat -f:{attribute}")
    if shown:
        assert why is None, f"qstat -f shows {attribute}, but the allowlist says: {why}"
    else:
        assert why, f"qstat -f does not show {attribute} ({case}), and it is not in tests/compat/allowlist.toml"
