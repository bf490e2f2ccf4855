"""scontrol: its command line, the update mapping onto JobSpec fields, hold/release
reports, and the listings' layout (captured listings: tests/compat)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from hpcq.api import admin_pb2 as a
from hpcq.api import jobs_pb2 as pb
from hpcq.shims.errors import ShimError
from hpcq.shims.jobrefs import JobRef
from hpcq.shims.slurm import scontrol
from hpcq.shims.slurm import scontrol_format as fmt

R = pb.JobActionResult


def test_commands_and_options_in_any_order():
    c = scontrol.parse(["show", "job", "-d", "42"])
    assert (c.verb, c.entity, c.name, c.details) == ("show", "job", "42", True)
    c = scontrol.parse(["-o", "show", "partitions"])
    assert (c.entity, c.one_line) == ("partition", True)
    assert scontrol.parse(["hold", "1,2", "3"]).refs == [JobRef(1), JobRef(2), JobRef(3)]
    assert scontrol.parse(["--version"]).verb == "version" and scontrol.parse(["help"]).verb == "help"
    assert scontrol.parse(["oneliner", "show", "node"]).one_line
    # As scontrol matches them: "sho", an entity's prefix, ENTITY=ID.
    for words in (["sho", "jo", "42"], ["show", "jobid=42"], ["show", "job=42"]):
        c = scontrol.parse(words)
        assert (c.verb, c.entity, c.name) == ("show", "job", "42")
    assert scontrol.parse(["show", "part"]).entity == "partition"
    assert (scontrol.parse(["show", "no", "vm"]).entity, scontrol.parse(["show", "hostn", "a"]).entity) == \
        ("node", "hostnames")


@pytest.mark.parametrize("argv, text", [
    # Slurm 22.05's words, without a "scontrol: error:" (checked by tests/conformance).
    (["show"], "too few arguments for keyword:show"),
    (["show", "jobz"], "invalid entity:jobz for keyword:show "),
    (["frobnicate"], "invalid keyword: frobnicate"),
    (["sh", "job"], "invalid keyword: sh"),
    (["hold", "abc"], "Invalid job id specified for job abc"),
    (["hold"], "scontrol: error: No job identification provided"),
])
def test_command_errors(argv, text):
    with pytest.raises(ShimError) as e:
        scontrol.parse(argv)
    assert e.value.text.splitlines()[0] == text and e.value.exit_code == 1


def test_update_maps_slurm_keys_to_jobspec_fields():
    ids, spec, fields = scontrol.build_update([
        ("JobId", "7"), ("JobName", "renamed"), ("TimeLimit", "1-00:00:00"), ("NumNodes", "2"),
        ("minmemorynode", "2G"), ("Nice", "-5"), ("Partition", "long"), ("Requeue", "0"),
        ("Features", "a&b"), ("ExcNodeList", "n[1-2]"), ("Comment", "x")])
    assert ids == [JobRef(7)]
    assert (spec.name, spec.walltime_seconds, spec.resources.nodes, spec.resources.mem_per_node_mb) == \
        ("renamed", 86400, 2, 2048)
    assert (spec.nice, spec.queue, spec.requeue, list(spec.resources.features)) == (-5, "long", False, ["a", "b"])
    assert list(spec.resources.exclude_nodes) == ["n1", "n2"] and spec.comment == "x"
    assert fields == ["name", "walltime_seconds", "resources.nodes", "resources.mem_per_cpu_mb",
                      "resources.mem_per_node_mb", "nice", "queue", "requeue", "resources.features",
                      "resources.exclude_nodes", "comment"]


def test_update_of_one_attribute_keeps_the_others():
    current = pb.Job(id=7)
    current.spec.attributes.update({"wckey": "w", "dependency": "afterok:3"})
    _, spec, fields = scontrol.build_update([("JobId", "7"), ("QOS", "high")], current)
    assert fields == ["attributes"]
    assert dict(spec.attributes) == {"wckey": "w", "dependency": "afterok:3", "qos": "high"}


@pytest.mark.parametrize("updates, text", [
    ([("JobId", "7"), ("Bogus", "1")], "Update of this parameter is not supported: Bogus=1"),
    ([("JobId", "7_x"), ("Nice", "1")], "Invalid job id specified for job 7_x"),
    ([("JobId", "7"), ("TimeLimit", "soon")], "Invalid TimeLimit value: soon"),
    ([("JobId", "7"), ("NumNodes", "4294967296")], "Invalid NumNodes value: 4294967296"),
    ([("JobId", "7"), ("Nice", "9999999999999")], "Invalid Nice value: 9999999999999"),
    ([("JobId", "7"), ("Nice", "+-5")], "Invalid Nice value: +-5"),
    ([("JobId", "7"), ("Nice", "\u00b2")], "Invalid Nice value: \u00b2"),
    ([("Name", "x")], "scontrol: error: No job identification provided"),
    ([("JobId", "7")], "scontrol: error: No changes specified"),
])
def test_update_errors(updates, text):
    with pytest.raises(ShimError) as e:
        scontrol.build_update(updates)
    assert e.value.text.splitlines()[0] == text


def test_update_failures_in_slurm_words():           # as Slurm 22.05's scontrol update prints them
    from hpcq.errors import HpcqError
    failure = scontrol.update_failure
    assert failure(HpcqError("FAILED_PRECONDITION", "NOT_QUEUED: job 7 is no longer queued"), JobRef(7)).text \
        == "Job is no longer pending execution for job 7"
    assert failure(HpcqError("NOT_FOUND", "UNKNOWN_JOB: job 7 does not exist"), JobRef(7)).text \
        == "Invalid job id specified for job 7"
    assert failure(HpcqError("NOT_FOUND", "UNKNOWN_JOB: no task 99"), JobRef(19, 99)).text \
        == "19_99: Invalid job id specified"
    assert failure(HpcqError("INVALID_ARGUMENT", "UNKNOWN_QUEUE: queue 'x' does not exist"), JobRef(39)).text \
        == "Invalid partition name specified for job 39"
    assert failure(HpcqError("INVALID_ARGUMENT", "BAD_DEPENDENCY: dependency: unknown type 'bogus'"),
                   JobRef(39)).text == "Job dependency problem for job 39"


def test_update_of_tasks_dependency_and_cpus():
    refs, spec, fields = scontrol.build_update([("JobId", "19_[3-4],20"), ("TimeLimit", "5")])
    assert refs == [JobRef(19, 3), JobRef(19, 4), JobRef(20)] and fields == ["walltime_seconds"]
    current = pb.Job(id=7)
    current.spec.resources.tasks = 2
    current.spec.attributes.update({"qos": "normal", "dependency": "afterok:3"})
    assert scontrol.needs_record([("Dependency", "afterok:4")]) and not scontrol.needs_record([("Nice", "1")])
    _, spec, fields = scontrol.build_update([("JobId", "7"), ("Dependency", "afterok:4_2"), ("NumCPUs", "4")],
                                            current)
    # ctld reads the new text into the structured form: the old form goes with it.
    assert fields == ["dependencies", "resources.cpus_per_task", "attributes"] and not spec.dependencies
    assert dict(spec.attributes) == {"qos": "normal", "dependency": "afterok:4_2"}
    assert spec.resources.cpus_per_task == 2                # 4 CPUs over 2 tasks
    _, spec, fields = scontrol.build_update([("JobId", "7"), ("Dependency", "")], current)
    assert dict(spec.attributes) == {"qos": "normal"} and "dependencies" in fields


def test_job_lists_name_tasks_and_ranges():
    assert scontrol.parse(["hold", "5_7,6_[1-2,4]", "8"]).refs == \
        [JobRef(5, 7), JobRef(6, 1), JobRef(6, 2), JobRef(6, 4), JobRef(8)]
    for verb in ("requeue", "requeuehold", "suspend", "resume", "uhold", "release"):
        assert scontrol.parse([verb, "5_7"]).verb == verb
    with pytest.raises(ShimError) as e:               # scontrol hold 19_x on Slurm 22.05
        scontrol.parse(["hold", "19_x"])
    assert e.value.text == "Invalid job id specified for job 19_x\nslurm_suspend error: Invalid job id specified"
    with pytest.raises(ShimError) as e:
        scontrol.parse(["requeue", "29.batch"])
    assert e.value.text == "Invalid job id specified for job 29.batch"


def test_task_refusals_name_the_task():               # Slurm 22.05: scontrol hold 999999 19_99, 19_99 999999
    unknown_task = R(job_id=19, task=pb.ArrayTaskRef(array_job_id=19, task=99), code=R.UNKNOWN_JOB)
    unknown_job = R(job_id=999999, code=R.UNKNOWN_JOB)
    refs = [JobRef(999999), JobRef(19, 99)]
    # ctld answers the job ids first, the task refs after: printed in the order given
    assert scontrol.action_report("hold", [unknown_job, unknown_task], refs) == (
        ["Invalid job id specified for job 999999", "slurm_suspend error: Invalid job id specified",
         "19_99: Invalid job id specified"], 1)
    assert scontrol.action_report("hold", [unknown_job, unknown_task], refs[::-1]) == (
        ["19_99: Invalid job id specified", "Invalid job id specified for job 999999",
         "slurm_suspend error: Invalid job id specified"], 1)
    assert scontrol.action_report("requeue", [unknown_task, unknown_job], refs[::-1]) == (
        ["19_99: Invalid job id specified", "Invalid job id specified for job 999999"], 1)


def test_requeue_suspend_resume_reports():            # Slurm 22.05 on a pending, a running job
    assert scontrol.action_report("requeue", [R(job_id=28, code=R.INVALID_STATE)]) == \
        (["Job is pending execution for job 28"], 1)
    assert scontrol.action_report("suspend", [R(job_id=28, code=R.INVALID_STATE)]) == \
        (["Job is pending execution for job 28"], 1)
    assert scontrol.action_report("resume", [R(job_id=29, code=R.INVALID_STATE)]) == \
        (["Job is not suspended for job 29"], 1)
    assert scontrol.action_report("suspend", [R(job_id=30, code=R.NOT_PERMITTED)]) == \
        (["Access/permission denied for job 30"], 1)
    assert scontrol.action_report("requeuehold", [R(job_id=30, code=R.OK)]) == ([], 0)



def test_refusals_of_another_users_job():               # hpcqbob on root's job 31, on his admin-held 49
    theirs = R(job_id=31, code=R.NOT_PERMITTED, message="job 31 belongs to root")
    assert scontrol.action_report("hold", [theirs]) == \
        (["Invalid user id for job 31", "slurm_suspend error: Invalid user id"], 1)
    assert scontrol.action_report("requeue", [theirs]) == (["Access/permission denied for job 31"], 1)
    admin_held = R(job_id=49, code=R.NOT_PERMITTED, message="held by an administrator")
    assert scontrol.action_report("release", [admin_held]) == \
        (["Access/permission denied for job 49", "slurm_suspend error: Access/permission denied"], 1)
    from hpcq.errors import HpcqError
    assert scontrol.update_failure(HpcqError("PERMISSION_DENIED", "job 30 belongs to root"), JobRef(30)).text == \
        "Invalid user id for job 30"
    privileged = HpcqError("PERMISSION_DENIED", "PRIVILEGED: Access/permission denied: nice below 0")
    assert scontrol.update_failure(privileged, JobRef(46)).text == "Access/permission denied for job 46"


def test_hold_and_release_reports():
    unknown = [R(job_id=999999, code=R.UNKNOWN_JOB)]
    assert scontrol.action_report("hold", unknown) == \
        (["Invalid job id specified for job 999999", "slurm_suspend error: Invalid job id specified"], 1)
    assert scontrol.action_report("release", [R(job_id=5, code=R.INVALID_STATE)]) == ([], 0)
    assert scontrol.action_report("hold", [R(job_id=5, code=R.INVALID_STATE), R(job_id=6, code=R.OK)]) == \
        (["Job is no longer pending execution for job 5", "slurm_suspend error: Job is no longer pending execution"],
         1)


def test_record_layouts():
    records = [["JobId=1 JobName=a", "UserId=x", ""], ["JobId=2 JobName=b", "UserId=y", ""]]
    assert fmt.render(records) == "JobId=1 JobName=a\n   UserId=x\n   \n\nJobId=2 JobName=b\n   UserId=y\n   \n\n"
    assert fmt.render(records, one_line=True) == "JobId=1 JobName=a UserId=x \nJobId=2 JobName=b UserId=y \n"


def test_durations():
    assert [fmt.duration(s) for s in (0, 2, 3600, 86399, 86400 + 61)] == \
        ["00:00:00", "00:00:02", "01:00:00", "23:59:59", "1-00:01:01"]


def test_node_states():
    n = a.Node(name="n1", connected=True)
    assert [fmt.node_state(a.Node(name="n", state=s, connected=True)) for s in
            (a.NODE_IDLE, a.NODE_MIXED, a.NODE_ALLOCATED, a.NODE_DOWN, a.NODE_DRAINING, a.NODE_DRAINED)] == \
        ["IDLE", "MIXED", "ALLOCATED", "DOWN", "MIXED+DRAIN", "IDLE+DRAIN"]
    n.state, n.connected = a.NODE_DRAINED, False
    assert fmt.node_state(n) == "IDLE*+DRAIN"


def test_partition_of_some_nodes():
    nodes = [a.Node(name=f"n{i}") for i in range(1, 4)]
    for n in nodes:
        n.hardware.cpus, n.hardware.memory_mb = 4, 1000
    q = a.Queue(name="small", nodes=["n1", "n2"], max_walltime_seconds=3600, default_walltime_seconds=600,
                allowed_groups=["lab"], state=a.Queue.DRAIN)
    lines = fmt.partition_lines(q, nodes)
    assert "AllowGroups=lab AllowAccounts=ALL AllowQos=ALL" in lines
    assert "Nodes=n[1-2]" in lines and "TRES=cpu=8,mem=2000M,node=2,billing=8" in lines
    assert any(line.startswith("DefaultTime=00:10:00 ") for line in lines)
    assert any(line.startswith("MaxNodes=UNLIMITED MaxTime=01:00:00 ") for line in lines)
    assert any(line.startswith("State=DRAIN TotalCPUs=8 TotalNodes=2 ") for line in lines)


def test_config_layout():
    info = a.ServerInfoResponse(cluster="lab", next_job_id=42, nodes=3, version="0.1.0", default_queue="batch")
    text = fmt.config_text(info, 1795439409.0)
    assert text.startswith("Configuration data as of ")
    assert "ClusterName             = lab\n" in text and "NEXT_JOB_ID             = 42\n" in text


def test_every_shim_starts_without_grpc_or_sqlalchemy():
    modules = [f"hpcq.shims.slurm.{m}" for m in ("sbatch", "squeue", "scancel", "sinfo", "sacct", "scontrol")]
    modules += [f"hpcq.shims.pbs.{m}" for m in ("qsub", "qstat", "qdel", "qhold", "qrls", "qalter", "qselect",
                                                 "qsig", "pbsnodes")]
    code = (f"import sys; import {', '.join(modules)}; "
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('grpc', 'sqlalchemy', 'sqlmodel', 'psutil')]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)
