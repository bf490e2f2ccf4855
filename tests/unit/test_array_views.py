"""Arrays as the shims show them: ctld's compact record of the tasks not started, seen
as one job per task (squeue -r, scontrol show job N_i) and as PBS's array and subjobs
(qstat -t/-J). The captured sessions are replayed in tests/compat."""
from __future__ import annotations

import pytest

from hpcq.api import jobs_pb2
from hpcq.shims import arrays
from hpcq.shims.pbs import qstat, qstat_arrays
from hpcq.shims.slurm import scontrol, squeue
from tests.compat import fake
from tests.compat.fake import FakeCluster

S = jobs_pb2.JobState


def record(job_id: int, *, tasks: str = "1-5", pending: str = "", index: int | None = None, array_id: int = 7,
           state: int = S.PENDING, dialect: int = jobs_pb2.DIALECT_SLURM) -> jobs_pb2.Job:
    job = jobs_pb2.Job(id=job_id, user="alice", queue="batch", state=state, reason="None", array_job_id=array_id,
                       array_tasks_pending=pending, submit_time=1.0)
    if index is not None:
        job.array_task_id = index
    if state not in (S.PENDING, S.HELD):
        job.start_time = 2.0
    if state == S.COMPLETED:
        job.end_time = 3.0
    job.spec.dialect, job.spec.name, job.spec.array.tasks = dialect, "arr", tasks
    return job


def test_indices_of_ctlds_spelling():
    assert list(arrays.indices("1-7:3,9,11-12")) == [1, 4, 7, 9, 11, 12]
    head = record(7, pending="3-9:2")
    assert [arrays.has_pending(head, i) for i in (3, 4, 9, 11)] == [True, False, True, False]
    task = arrays.pending_task(head, 5)
    assert (task.id, task.array_job_id, task.array_task_id, task.array_tasks_pending) == (7, 7, 5, "")


def test_expand_keeps_other_jobs_and_started_tasks():
    plain = jobs_pb2.Job(id=3)
    running = record(8, index=1, state=S.RUNNING)
    out = arrays.expand([plain, record(7, pending="2-3"), running])
    assert [(j.id, j.array_task_id if j.HasField("array_task_id") else None) for j in out] == [
        (3, None), (7, 2), (7, 3), (8, 1)]


def slurm_world(monkeypatch) -> FakeCluster:
    return FakeCluster("c", user="alice", now=10.0).add(record(7, pending="3-5"), record(8, index=1, state=S.RUNNING),
                                                       record(9, index=2, state=S.COMPLETED))


def test_squeue_r_lists_each_pending_task(monkeypatch):
    world = slurm_world(monkeypatch)
    out = fake.run(squeue.main, ["-r", "-h", "-o", "%i %K %T"], world, monkeypatch)
    assert out.stdout == "7_3 3 PENDING\n7_4 4 PENDING\n7_5 5 PENDING\n7_1 1 RUNNING\n"
    out = fake.run(squeue.main, ["-h", "-o", "%i %K %T"], world, monkeypatch)
    assert out.stdout == "7_[3-5] 3-5 PENDING\n7_1 1 RUNNING\n"


@pytest.mark.parametrize("name, first_line", [
    ("7_4", "JobId=7 ArrayJobId=7 ArrayTaskId=4 JobName=arr"),
    ("7_2", "JobId=9 ArrayJobId=7 ArrayTaskId=2 JobName=arr"),
    ("8", "JobId=8 ArrayJobId=7 ArrayTaskId=1 JobName=arr"),
])
def test_scontrol_finds_a_task_started_or_not(monkeypatch, name, first_line):
    out = fake.run(scontrol.main, ["show", "job", name], slurm_world(monkeypatch), monkeypatch)
    assert out.exit == 0 and out.stdout.splitlines()[0] == first_line


def test_scontrol_shows_an_array_then_its_tasks_newest_first(monkeypatch):
    out = fake.run(scontrol.main, ["-o", "show", "job", "7"], slurm_world(monkeypatch), monkeypatch)
    assert [line.split()[0] for line in out.stdout.splitlines()] == ["JobId=7", "JobId=9", "JobId=8"]


@pytest.mark.parametrize("name, error", [          # as Slurm 22.05 on a live array 47, job 48
    ("7_6", "Job 7_6 not found"), ("8_1", "Job 8_1 not found"),
    ("7_x", "scontrol_print_job error: Invalid job id specified"),
    ("99_1", "slurm_load_jobs error: Invalid job id specified"),
])
def test_scontrol_unknown_tasks(monkeypatch, name, error):
    out = fake.run(scontrol.main, ["show", "job", name], slurm_world(monkeypatch), monkeypatch)
    # "not found" is said on stdout (the conformance suite's live Slurm), the errors on stderr
    said = (error + "\n", "") if error.endswith("not found") else ("", error + "\n")
    assert (out.stdout, out.stderr, out.exit) == (*said, 1)


# -- PBS ---------------------------------------------------------------------------------------

def pbs(job: jobs_pb2.Job) -> jobs_pb2.Job:
    job.spec.dialect = jobs_pb2.DIALECT_PBS
    return job


def test_an_array_is_queued_until_a_subjob_starts_then_begun_then_finished():
    queued = qstat_arrays.view([pbs(record(7, pending="1-5"))], subjobs_too=False, arrays_only=False)
    assert [(j.id, j.state) for j in queued] == [(7, S.PENDING)]
    begun = qstat_arrays.array([pbs(record(7, pending="3-5")), pbs(record(8, index=1, state=S.RUNNING)),
                                pbs(record(9, index=2, state=S.COMPLETED))])
    assert begun.state == S.RUNNING and not begun.HasField("array_task_id")
    assert begun.spec.attributes["array_state_count"] == "Queued:3 Running:1 Exiting:0 Expired:1"
    assert begun.spec.attributes["array_indices_remaining"] == "3-5"
    done = qstat_arrays.array([pbs(record(7, tasks="1-2", index=2, state=S.COMPLETED)),
                               pbs(record(8, tasks="1-2", index=1, state=S.COMPLETED))])
    assert (done.state, done.end_time, done.spec.attributes["array_indices_remaining"]) == (S.COMPLETED, 3.0, "-")


def test_views_of_t_and_j():
    records = [jobs_pb2.Job(id=5, state=S.RUNNING), pbs(record(7, pending="2-3")),
               pbs(record(8, index=1, state=S.RUNNING))]

    def shown(**flags: bool) -> list[str]:
        return [f"{j.array_job_id or j.id}[{j.array_task_id if j.HasField('array_task_id') else ''}]"
                if j.array_job_id else str(j.id) for j in qstat_arrays.view(records, **flags)]
    assert shown(subjobs_too=False, arrays_only=False) == ["5", "7[]"]
    assert shown(subjobs_too=True, arrays_only=False) == ["5", "7[]", "7[1]", "7[2]", "7[3]"]
    assert shown(subjobs_too=False, arrays_only=True) == ["7[]"]
    assert shown(subjobs_too=True, arrays_only=True) == ["7[1]", "7[2]", "7[3]"]


def test_qstat_of_a_subjob_that_does_not_exist(monkeypatch):
    world = FakeCluster("srv", user="alice", now=10.0).add(pbs(record(7, pending="3-5")),
                                                          pbs(record(8, index=1, state=S.RUNNING)))
    out = fake.run(qstat.main, ["7[9].srv"], world, monkeypatch)
    assert (out.stdout, out.stderr, out.exit) == ("", "qstat: Unknown Job Id 7[9].srv\n", 153)
    out = fake.run(qstat.main, ["7[4]"], world, monkeypatch)
    assert out.stdout.splitlines()[2].split()[:1] == ["7[4].srv"] and " Q " in out.stdout


def test_squeue_j_of_an_array_shows_its_tasks(monkeypatch):
    out = fake.run(squeue.main, ["-j", "7", "-h", "-o", "%i %T"], slurm_world(monkeypatch), monkeypatch)
    assert out.stdout == "7_[3-5] PENDING\n7_1 RUNNING\n"
    out = fake.run(squeue.main, ["-j", "7", "-t", "all", "-h", "-o", "%i %T"], slurm_world(monkeypatch), monkeypatch)
    # squeue orders states by their compact names (CD before PD before R; tests/conformance).
    assert out.stdout == "7_2 COMPLETED\n7_[3-5] PENDING\n7_1 RUNNING\n"
