"""qalter (and qhold, qrls, qsig): what each option changes in a queued job's spec, and
PBS's words for what cannot be done (qhold_qrls_qalter.txt is replayed in tests/compat)."""
from __future__ import annotations

import pytest

from hpcq.api import jobs_pb2 as pb
from hpcq.errors import HpcqError
from hpcq.shims.errors import ShimError
from hpcq.shims.jobrefs import JobRef
from hpcq.shims.pbs import actions, qalter, qhold, qsig
from hpcq.shims.submit_context import SubmitContext

CTX = SubmitContext(cwd="/scratch/work", host="pbshost", user="pbsuser", environ={}, now=1795437541.0)
R = pb.JobActionResult


def queued() -> pb.Job:
    j = pb.Job(id=23, user="pbsuser", state=pb.PENDING, queue="workq")
    j.spec.name, j.spec.walltime_seconds = "queued_one", 3600
    j.spec.resources.nodes = 2
    j.spec.attributes.update({"submit_arguments": "-N queued_one", "project": "p"})
    return j


def alter(*argv: str, job: pb.Job | None = None) -> tuple[pb.JobSpec, list[str]]:
    request = qalter.parse([*argv, "23"])
    return qalter.alter(job or queued(), request.options, CTX, "pbshost")


def test_resources():
    spec, fields = alter("-l", "walltime=00:20:00")
    assert (spec.walltime_seconds, fields) == (1200, ["walltime_seconds"])
    spec, fields = alter("-l", "select=1:ncpus=1:mem=50mb")
    assert (spec.resources.nodes, spec.resources.cpus_per_task, spec.resources.mem_per_node_mb) == (1, 1, 50)
    assert spec.attributes["select"] == "1:ncpus=1:mem=50mb" and "attributes" in fields
    assert spec.attributes["submit_arguments"] == "-N queued_one"      # the rest of the map is kept
    spec, fields = alter("-l", "mem=4gb")
    assert spec.resources.mem_per_node_mb == 2048 and "resources.mem_per_node_mb" in fields   # spread over 2 nodes
    spec, _ = alter("-l", "cput=10:00")
    assert spec.attributes["Resource_List.cput"] == "10:00"


def test_other_options():
    spec, fields = alter("-N", "renamed", "-A", "acct", "-p", "10", "-r", "n", "-m", "ae", "-o", "out/")
    assert (spec.name, spec.account, spec.nice, spec.requeue, spec.mail_events) == ("renamed", "acct", -10, False, "ae")
    assert spec.stdout_path == "/scratch/work/out/"
    assert fields == ["name", "account", "nice", "requeue", "mail_events", "stdout_path"]
    spec, fields = alter("-a", "1300")
    assert spec.begin_time > CTX.now and fields[0] == "begin_time"


@pytest.mark.parametrize("argv, text, code", [
    (["-l", "walltime=bogus"], "qalter: Illegal attribute or resource value Resource_List.walltime 23.pbshost", 166),
    (["-l", "nosuch=1"], "qalter: Unknown resource Resource_List.nosuch 23.pbshost", 187),
    (["-N", "bad name"], "qalter: illegal -N value", 2),
])
def test_bad_values_name_the_job(argv, text, code):
    with pytest.raises(ShimError) as e:
        alter(*argv)
    assert (e.value.text.splitlines()[0], e.value.exit_code) == (text, code)


def test_refusals_from_ctld():
    assert qalter.failure(HpcqError("FAILED_PRECONDITION", "NOT_QUEUED: job 21 is no longer queued"), 21,
                          "pbshost").text == "qalter: Unauthorized Request  21.pbshost"
    assert qalter.failure(HpcqError("NOT_FOUND", "UNKNOWN_JOB: job 9 does not exist"), 9, "pbshost").exit_code == 153
    e = qalter.failure(HpcqError("INVALID_ARGUMENT", "TIME_LIMIT: walltime 90000s exceeds queue workq's maximum"),
                       23, "pbshost")
    assert e.text.splitlines()[0] == "qalter: Job exceeds queue and/or server resource limits 23.pbshost"
    assert e.exit_code == 188


def test_qalter_command_line():
    with pytest.raises(ShimError) as e:
        qalter.parse(["23"])
    assert e.value.text.startswith("usage: qalter") and e.value.exit_code == 2
    with pytest.raises(ShimError, match=r"qalter: -W umask is not supported by hpcq yet"):
        qalter.parse(["-W", "umask=022", "23"])
    with pytest.raises(ShimError, match=r"illegally formed job identifier: 23\[1-3\]"):
        qalter.parse(["-N", "x", "23[1-3]"])
    assert qalter.parse(["-N", "x", "23[2].pbshost"]).refs == [JobRef(23, 2)]


def test_dependency_goes_to_ctld_as_text():           # qalter -W depend=afterok:M N
    job = queued()
    job.spec.attributes["depend"] = "afterany:20"
    job.spec.dependencies.add(kind=pb.Dependency.AFTER_ANY, job_ids=[20])
    spec, fields = alter("-W", "depend=afterok:21.pbshost", job=job)
    assert fields == ["dependencies", "attributes"]
    assert spec.attributes["depend"] == "afterok:21.pbshost" and not spec.dependencies


def test_hold_types():
    assert qhold.parse("qhold", ["23.pbshost"]) == qhold.Request([JobRef(23)], "u", admin=False)
    assert qhold.parse("qrls", ["23[1-2]", "24[3]"]).refs == [JobRef(23, 1), JobRef(23, 2), JobRef(24, 3)]
    assert qhold.parse("qhold", ["-h", "o", "23"]).admin and qhold.parse("qrls", ["-h", "s", "23"]).admin
    with pytest.raises(ShimError) as e:
        qhold.parse("qhold", ["-h", "x", "23"])
    assert e.value.text.startswith("qhold: illegal -h value") and e.value.exit_code == 2
    with pytest.raises(ShimError) as e:
        qhold.parse("qrls", [])
    assert e.value.text.startswith("usage: qrls") and e.value.exit_code == 2


def test_reports():
    results = [R(job_id=99999, code=R.UNKNOWN_JOB), R(job_id=1, code=R.FINISHED), R(job_id=5, code=R.OK)]
    assert actions.report("qrls", results, "pbshost") == \
        (["qrls: Unknown Job Id 99999.pbshost", "qrls: Job has finished"], 35)
    assert actions.report("qsig", [R(job_id=23, code=R.INVALID_STATE)], "pbshost") == \
        (["qsig: Request invalid for state of job 23.pbshost"], 168)
    assert actions.report("qhold", [R(job_id=21, code=R.INVALID_STATE)], "pbshost",
                          ignore=frozenset({R.INVALID_STATE})) == ([], 0)



def test_subjob_reports_name_the_subjob():            # qdel 5[3] of a subjob ctld does not know
    task = R(job_id=5, task=pb.ArrayTaskRef(array_job_id=5, task=3), code=R.UNKNOWN_JOB)
    assert actions.report("qdel", [R(job_id=6, code=R.UNKNOWN_JOB), task], "pbshost",
                          refs=[JobRef(5, 3), JobRef(6)]) == \
        (["qdel: Unknown Job Id 5[3].pbshost", "qdel: Unknown Job Id 6.pbshost"], 153)
    with pytest.raises(ShimError) as e:
        actions.parse_ids("qdel", ["5[x]"], "usage")
    assert (e.value.text, e.value.exit_code) == ("qdel: illegally formed job identifier: 5[x]", 1)
    assert actions.parse_ids("qdel", ["5[2-3].pbshost", "6[]"], "usage") == [JobRef(5, 2), JobRef(5, 3), JobRef(6)]


def test_qsig():
    j21 = [JobRef(21)]
    assert qsig.parse(["21.pbshost"]) == (15, j21)
    assert qsig.parse(["-s", "SIGKILL", "21"]) == (9, j21) and qsig.parse(["-s", "10", "21"]) == (10, j21)
    with pytest.raises(ShimError) as e:
        qsig.parse(["-s", "FOO", "21"])
    assert (e.value.text, e.value.exit_code) == ("qsig: Unknown signal FOO 21", 165)
    assert qsig.parse(["-s", "suspend", "21[3]"]) == (qsig.SUSPEND, [JobRef(21, 3)])
    assert qsig.parse(["-s", "RESUME", "21"]) == (qsig.RESUME, j21)
    with pytest.raises(ShimError, match="-s admin-suspend is not supported"):
        qsig.parse(["-s", "admin-suspend", "21"])
    with pytest.raises(ShimError, match=r"illegally formed job identifier: x\.y"):
        qsig.parse(["x.y"])
