"""qstat's JSON, DSV, queue and server views, and how jobs waiting on a dependency
look in PBS (held by the system). The captured views are replayed in tests/compat."""
from __future__ import annotations

import json

import pytest

from hpcq.api import admin_pb2 as a
from hpcq.api import jobs_pb2 as pb
from hpcq.shims.pbs import qstat_format as qf
from hpcq.shims.pbs import qstat_output as qo

pytestmark = pytest.mark.usefixtures("utc")


def job(job_id: int, state: int = pb.PENDING, *, reason: str = "None", queue: str = "workq", cpus: int = 1,
        mem: int = 0, started: float = 0.0) -> pb.Job:
    j = pb.Job(id=job_id, user="pbsuser", state=state, queue=queue, reason=reason, submit_time=1795437541.0,
               start_time=started)
    j.spec.name, j.spec.dialect, j.spec.submit_host = f"j{job_id}", pb.DIALECT_PBS, "pbshost"
    j.spec.resources.cpus_per_task, j.spec.resources.mem_per_node_mb = cpus, mem
    j.spec.environment.update({"PBS_O_HOME": "/home/pbsuser", "ODD": 'a "quoted"\tvalue, with comma', "N": "42"})
    if started:
        j.allocation.slices.add(node="pbshost", cpus=cpus, mem_mb=mem)
    return j


def test_json_values():
    assert [qo.json_value(v) for v in ("0", "-29", "1.5", "007", "200mb", "", 'a"b\\c\n')] == \
        ["0", "-29", "1.5", '"007"', '"200mb"', '""', '"a\\"b\\\\c\\n"']


def test_json_of_several_jobs_is_valid_and_complete():
    jobs = [job(21, pb.RUNNING, started=1795437541.0, mem=200), job(23), job(24, pb.HELD, reason="JobHeldUser")]
    text = qo.jobs_json(jobs, 1795437555.0, "pbshost", "23.06.06")
    data = json.loads(text)
    assert list(data["Jobs"]) == ["21.pbshost", "23.pbshost", "24.pbshost"]      # all of them (openpbs#2672)
    assert data["Jobs"]["21.pbshost"]["Resource_List"]["mem"] == "200mb"
    assert data["Jobs"]["21.pbshost"]["resources_used"]["ncpus"] == 1
    assert data["Jobs"]["23.pbshost"]["Variable_List"] == {"PBS_O_HOME": "/home/pbsuser", "PBS_O_QUEUE": "workq",
                                                           "N": 42, "ODD": 'a "quoted"\tvalue, with comma'}
    assert data["Jobs"]["24.pbshost"]["job_state"] == "H" and data["pbs_server"] == "pbshost"
    assert text.startswith('{\n\t"timestamp":\t1795437555,\n\t"pbs_version":\t"23.06.06",\n')


def test_json_without_jobs_is_the_header_alone():
    assert qo.jobs_json([], 1795437596.0, "pbshost", "23.06.06") == \
        '{\n\t"timestamp":\t1795437596,\n\t"pbs_version":\t"23.06.06",\n\t"pbs_server":\t"pbshost"\n}\n'


def test_dsv_one_line_per_job_delimiter_escaped():
    j = job(23)
    j.spec.attributes["submit_arguments"] = "-N a|b"
    text = qo.jobs_dsv([j, job(24)], 1795437555.0, "pbshost")
    first, second = text.splitlines()
    assert first.startswith("Job Id: 23.pbshost|Job_Name=j23|") and "Submit_arguments=-N a\\|b" in first
    assert "Variable_List=PBS_O_HOME=/home/pbsuser,PBS_O_QUEUE=workq,N=42," in first
    assert second.startswith("Job Id: 24.pbshost|")
    assert qo.jobs_dsv([job(23)], 0, "pbshost", ";").startswith("Job Id: 23.pbshost;Job_Name=j23;")


def test_queue_views():
    jobs = [job(21, pb.RUNNING, started=1.0, mem=200), job(22, pb.RUNNING, started=1.0), job(23),
            job(24, pb.HELD), job(25, pb.PENDING, reason="Dependency"), job(26, queue="other"),
            job(20, pb.COMPLETED)]
    workq = a.Queue(name="workq", is_default=True, state=a.Queue.UP, max_walltime_seconds=3600)
    closed = a.Queue(name="other", state=a.Queue.INACTIVE)
    assert qo.queue_table([workq, closed], jobs) == """\
Queue              Max   Tot Ena Str   Que   Run   Hld   Wat   Trn   Ext Type
---------------- ----- ----- --- --- ----- ----- ----- ----- ----- ----- ----
workq                0     5 yes yes     1     2     2     0     0     0 Exec
other                0     1  no  no     1     0     0     0     0     0 Exec
"""
    assert qo.queue_attributes(workq, jobs) == [
        ("queue_type", "Execution"), ("total_jobs", "5"),
        ("state_count", "Transit:0 Queued:1 Held:2 Waiting:0 Running:2 Exiting:0 Begun:0 "),
        ("resources_max.walltime", "01:00:00"), ("resources_assigned.mem", "200mb"),
        ("resources_assigned.ncpus", "2"), ("resources_assigned.nodect", "2"), ("enabled", "True"),
        ("started", "True")]
    assert qo.full_text("Queue", [("workq", [("queue_type", "Execution")])]) == \
        "Queue: workq\n    queue_type = Execution\n\n"


def test_server_views():
    info = a.ServerInfoResponse(cluster="pbshost", default_queue="workq")
    jobs = [job(21, pb.RUNNING, started=1.0), job(20, pb.COMPLETED)]
    assert qo.server_table("pbshost", jobs).splitlines()[2] == \
        "pbshost              0     2     0     1     0     0     0     0 Active"
    attributes = dict(qo.server_attributes("pbshost", info, jobs, "23.06.06"))
    assert attributes["default_queue"] == "workq" and attributes["total_jobs"] == "2"


def test_a_job_waiting_on_its_dependency_is_held_by_the_system():
    waiting = job(13, reason="Dependency")
    waiting.spec.attributes["depend"] = "afterok:11.pbshost,afterany:12"
    assert qf.state_code(waiting) == "H" and qf.hold_types(waiting) == "s"
    full = dict(qf.full_attributes(waiting, 0, "pbshost"))
    assert full["job_state"] == "H" and full["substate"] == "22"
    assert full["depend"] == "afterok:11.pbshost@pbshost,afterany:12.pbshost@pbshost"
    assert "comment" not in full
    assert qf.render_default([waiting], "pbshost").splitlines()[2].split()[-2] == "H"


def test_a_job_whose_dependency_failed_is_finished_without_exit_status():
    gone = job(16, pb.CANCELLED, reason="DependencyNeverSatisfied")
    gone.spec.attributes["depend"] = "afterok:12.pbshost"
    full = dict(qf.full_attributes(gone, 0, "pbshost"))
    assert (full["job_state"], full["substate"]) == ("F", "92")
    assert "Exit_status" not in full and "comment" not in full and full["depend"] == "afterok:12.pbshost@pbshost"


def test_an_operator_hold_shows_as_such():
    assert qf.hold_types(job(1, pb.HELD, reason="JobHeldAdmin")) == "o"
    assert qf.hold_types(job(1, pb.HELD, reason="JobHeldUser")) == "u"


def test_wrapping_first_line_and_continued_lines():
    # A lone piece ending at column 80 on the first line is cut (dependencies.txt); on a
    # continued line a piece may end there (qstat_f_running.txt, Variable_List).
    assert qf.wrap_attribute("Submit_arguments", "x" * 57) == "    Submit_arguments = " + "x" * 56 + "\n\tx"
    assert qf.wrap_attribute("Submit_arguments", "x" * 56) == "    Submit_arguments = " + "x" * 56
