"""Array tasks as job ids (issue #16): the one parser of job references per dialect
(hpcq/shims/jobrefs.py), what each command asks ctld for them, and how it prints ctld's
answers (Slurm 22.05's and OpenPBS's words, exit codes)."""
from __future__ import annotations

import pytest

from hpcq.api import jobs_pb2 as pb
from hpcq.errors import HpcqError
from hpcq.shims import arrays, jobrefs
from hpcq.shims.jobrefs import JobRef
from hpcq.shims.pbs import qalter, qdel, qmove, qrerun, qsig, qstat
from hpcq.shims.slurm import sacct, scancel, scontrol, squeue

R = pb.JobActionResult
CLUSTER = "pbshost"


# -- the parser ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, kwargs, refs", [
    ("5", {}, [JobRef(5)]),
    ("5_3", {}, [JobRef(5, 3)]),
    ("5_[1-3,7]", {"ranges": True}, [JobRef(5, 1), JobRef(5, 2), JobRef(5, 3), JobRef(5, 7)]),
    ("5_[1-5:2]", {"ranges": True}, [JobRef(5, 1), JobRef(5, 3), JobRef(5, 5)]),
    ("5.batch", {"steps": True}, [JobRef(5, None, "batch")]),
    ("5_2.0", {"steps": True}, [JobRef(5, 2, "0")]),
])
def test_slurm_references(text, kwargs, refs):
    assert jobrefs.parse_slurm(text, **kwargs) == refs


@pytest.mark.parametrize("text, kwargs", [
    ("5_[1-3]", {}), ("5.batch", {}), ("5+1", {"ranges": True, "steps": True}), ("5_", {}), ("5_x", {}),
    ("5.x", {"steps": True}), ("5.batch.1", {"steps": True}),
    ("5_[x]", {"ranges": True}), ("5_[1-3", {"ranges": True}), ("abc", {}), ("", {}), ("-5", {}),
    (str(2**64), {}), (f"5_{2**32}", {}), ("5_[1-200000]", {"ranges": True}), ("\u00b2", {}),
])
def test_slurm_refusals(text, kwargs):
    with pytest.raises(jobrefs.JobRefError):
        jobrefs.parse_slurm(text, **kwargs)


@pytest.mark.parametrize("text, kwargs, refs", [
    ("21", {}, [JobRef(21)]), ("21.pbshost", {}, [JobRef(21)]), ("10[]", {}, [JobRef(10)]),
    ("10[].pbshost", {}, [JobRef(10)]), ("10[3]", {}, [JobRef(10, 3)]), ("10[3].pbshost", {}, [JobRef(10, 3)]),
    ("10[1-3].pbshost", {"ranges": True}, [JobRef(10, 1), JobRef(10, 2), JobRef(10, 3)]),
])
def test_pbs_references(text, kwargs, refs):
    assert jobrefs.parse_pbs(text, **kwargs) == refs


@pytest.mark.parametrize("text", ["10[1-3]", "10[x]", "10[", "x1", "notajob!!", "10_3", str(2**64), "10.srv[3]"])
def test_pbs_refusals(text):
    with pytest.raises(jobrefs.JobRefError):
        jobrefs.parse_pbs(text)


def test_spellings_and_request_parts():
    assert (JobRef(5, 3).slurm(), JobRef(5).slurm(), JobRef(5, 3, "batch").slurm()) == ("5_3", "5", "5_3.batch")
    assert (JobRef(5, 3).pbs("srv"), JobRef(5).pbs("srv")) == ("5[3].srv", "5.srv")
    assert jobrefs.split([JobRef(1), JobRef(2, 4), JobRef(3)]) == ([1, 3], [(2, 4)])


def test_results_in_the_order_given():
    refs = [JobRef(2, 4), JobRef(1), JobRef(2, 5)]
    results = [R(job_id=1), R(job_id=9, task=pb.ArrayTaskRef(array_job_id=2, task=5)),
               R(job_id=8, task=pb.ArrayTaskRef(array_job_id=2, task=4)), R(job_id=77)]
    assert [ref for ref, _ in jobrefs.in_order(refs, results)] == [JobRef(2, 4), JobRef(1), JobRef(2, 5), JobRef(77)]


# -- a stand-in for ctld that records what the commands ask --------------------------------

def array(array_id: int = 5, pending: str = "5-1000", running: tuple[int, ...] = (1, 2, 3, 4)) -> list[pb.Job]:
    """An array whose first tasks run (each a record of its own) and whose rest is pending."""
    head = pb.Job(id=array_id, array_job_id=array_id, state=pb.PENDING, reason="JobArrayTaskLimit",
                  array_tasks_pending=pending, user="alice", queue="batch")
    head.spec.name, head.spec.array.tasks, head.spec.array.max_running = "arr", "1-1000", 10
    tasks = []
    for n, index in enumerate(running):
        task = pb.Job(id=array_id + 100 + n, array_job_id=array_id, array_task_id=index, state=pb.RUNNING,
                      user="alice", queue="batch", start_time=1.0)
        task.spec.CopyFrom(head.spec)
        tasks.append(task)
    return [head, *tasks]


class Recorder:
    """hpcq.client.Client's surface: records each call, answers from `jobs`."""

    def __init__(self, jobs: list[pb.Job], results: list[R] | None = None) -> None:
        self.jobs = {job.id: job for job in jobs}
        self.results = results or []
        self.calls: list[tuple] = []
        self.cluster = CLUSTER

    def get(self, job_ids):
        ids = list(job_ids)
        return [self.jobs[i] for i in ids if i in self.jobs], [i for i in ids if i not in self.jobs]

    def list(self, **filters):
        return list(self.jobs.values())

    def _act(self, name, job_ids, **kwargs):
        self.calls.append((name, list(job_ids), {k: list(v) if k == "tasks" else v for k, v in kwargs.items()}))
        return self.results

    def cancel(self, job_ids, *, tasks=()):
        return self._act("cancel", job_ids, tasks=tasks)

    def signal(self, job_ids, signal, *, tasks=()):
        return self._act("signal", job_ids, signal=signal, tasks=tasks)

    def hold(self, job_ids, *, admin=False, tasks=()):
        return self._act("hold", job_ids, admin=admin, tasks=tasks)

    def release(self, job_ids, *, tasks=()):
        return self._act("release", job_ids, tasks=tasks)

    def requeue(self, job_ids, *, tasks=(), hold=False):
        return self._act("requeue", job_ids, tasks=tasks, hold=hold)

    def suspend(self, job_ids, *, tasks=()):
        return self._act("suspend", job_ids, tasks=tasks)

    def resume(self, job_ids, *, tasks=()):
        return self._act("resume", job_ids, tasks=tasks)

    def update(self, job_id, spec, fields, *, task=None):
        self.calls.append(("update", job_id, task, list(fields), spec))
        if job_id == 404 or (task and task[1] == 404):
            raise HpcqError("NOT_FOUND", "UNKNOWN_JOB: no such job")
        return pb.Job()


class Conn:
    def __init__(self, client: Recorder) -> None:
        self.client = client
        self.cluster = CLUSTER


def run(command, argv, client, capsys):
    code = command._run(argv, Conn(client)) if command is scontrol else command.command.body(argv, Conn(client))
    captured = capsys.readouterr()
    return code, captured.err


# -- Slurm ------------------------------------------------------------------------------------

def test_scancel_sends_tasks_as_task_refs(capsys):
    client = Recorder(array())
    assert run(scancel, ["5_2", "5_[7-8]", "5"], client, capsys) == (0, "")
    assert client.calls == [("cancel", [5], {"tasks": [(5, 2), (5, 7), (5, 8)]})]
    assert run(scancel, ["-s", "USR1", "5_3"], client, capsys) == (0, "")
    assert client.calls[-1] == ("signal", [], {"signal": 10, "tasks": [(5, 3)]})


def test_scancel_words_refusals_of_tasks(capsys):     # scancel -v 19_99, bob's scancel 19_4 on Slurm 22.05
    unknown = R(job_id=5, task=pb.ArrayTaskRef(array_job_id=5, task=99), code=R.UNKNOWN_JOB)
    client = Recorder(array(), [unknown])
    assert run(scancel, ["-v", "5_99"], client, capsys) == (
        0, "scancel: Terminating job 5_99\nscancel: error: Kill job error on job id 5_99: Invalid job id specified\n")
    assert run(scancel, ["5_99"], client, capsys) == (0, "")
    denied = R(job_id=5, task=pb.ArrayTaskRef(array_job_id=5, task=4), code=R.NOT_PERMITTED)
    assert run(scancel, ["5_4"], Recorder(array(), [denied]), capsys) == (
        210, "scancel: error: Kill job error on job id 5_4: Access/permission denied\n")
    assert run(scancel, ["-v", "5_[5-6]"], Recorder(array()), capsys) == (0, "scancel: Terminating job 5_[5-6]\n")


def test_scancel_refuses_what_slurm_refuses():          # scancel 19_x, 19_[x] on Slurm 22.05
    for text in ("5_x", "5_[x]", "5_[1-2", "abc"):
        with pytest.raises(scancel.ShimError) as e:
            scancel.parse([text])
        assert (e.value.text, e.value.exit_code) == (f"scancel: error: Invalid job id {text}", 1)
    with pytest.raises(scancel.ShimError, match=r"cancelling a job step \(5\.0\) is not supported"):
        scancel.parse(["5.0"])


def test_scancel_filter_keeps_named_tasks_of_matching_arrays():
    jobs = array()
    assert scancel.chosen([JobRef(5, 2), JobRef(9, 1)], jobs[1:]) == [JobRef(5, 2)]
    assert scancel.chosen([], jobs[:1]) == [JobRef(5)]


def test_scontrol_verbs_call_their_rpcs(capsys):
    client = Recorder(array())
    for verb, call in (("requeue", ("requeue", [5], {"tasks": [(5, 2)], "hold": False})),
                       ("requeuehold", ("requeue", [5], {"tasks": [(5, 2)], "hold": True})),
                       ("suspend", ("suspend", [5], {"tasks": [(5, 2)]})),
                       ("resume", ("resume", [5], {"tasks": [(5, 2)]})),
                       ("release", ("release", [5], {"tasks": [(5, 2)]})),
                       ("uhold", ("hold", [5], {"admin": False, "tasks": [(5, 2)]}))):
        assert run(scontrol, [verb, "5,5_2"], client, capsys) == (0, "")
        assert client.calls[-1] == call


def test_scontrol_update_of_a_task_and_a_job(capsys):
    client = Recorder(array())
    assert run(scontrol, ["update", "JobId=5_7", "TimeLimit=10"], client, capsys) == (0, "")
    assert client.calls[-1][:4] == ("update", 0, (5, 7), ["walltime_seconds"])
    code, err = run(scontrol, ["update", "JobId=404,5", "Nice=5"], client, capsys)
    assert (code, err) == (1, "Invalid job id specified for job 404\n")
    assert client.calls[-1][:3] == ("update", 5, None)          # the other job is still updated
    assert run(scontrol, ["update", "JobId=5_404", "Dependency=afterok:3"], client, capsys) == \
        (1, "5_404: Invalid job id specified\n")               # not a task of the array: not sent
    code, _ = run(scontrol, ["update", "JobId=5_9", "Dependency=afterok:3"], client, capsys)
    update = client.calls[-1]
    assert code == 0 and update[:4] == ("update", 0, (5, 9), ["dependencies", "attributes"])
    assert update[4].attributes["dependency"] == "afterok:3"


def test_scontrol_show_job_of_a_missing_task(capsys):   # scontrol show job 19_99 on Slurm 22.05
    with pytest.raises(scontrol.ShimError) as e:
        scontrol.show_jobs(scontrol.parse(["show", "job", "5_1001"]), Recorder(array()), 10.0)
    assert (e.value.text, e.value.exit_code) == ("", 1)
    assert capsys.readouterr().out == "Job 5_1001 not found\n"      # on stdout, as Slurm says it


def test_squeue_j_selects_tasks_pending_and_started():
    jobs = array()
    held = pb.Job(id=300, array_job_id=5, array_task_id=900, state=pb.HELD, reason="JobHeldUser", user="alice")
    held.spec.CopyFrom(jobs[0].spec)                     # split out of the pending rest to be held alone
    jobs[0].array_tasks_pending = "5-899,901-1000"
    conn = Conn(Recorder([*jobs, held]))
    shown = squeue.select(squeue.parse(["-j", "5_2,5_7,5_900,5_5000"], environ={}), conn)
    assert sorted((j.array_job_id, j.array_task_id, j.state) for j in shown) == \
        [(5, 2, pb.RUNNING), (5, 7, pb.PENDING), (5, 900, pb.HELD)]
    whole = squeue.select(squeue.parse(["5"], environ={}), conn)
    assert len(whole) == 6                                  # the pending rest, 4 running, the held task
    assert squeue.select(squeue.parse(["-j", "5_5000"], environ={}), conn) == []   # as squeue: nothing, no error


def test_squeue_j_reads_ids_as_squeue_does():           # Slurm 22.05 with job 50 held, 999999 unknown
    conn = Conn(Recorder(array()))
    assert [j.id for j in squeue.select(squeue.parse(["-j", "5.0"], environ={}), conn)][:1] == [5]
    for unknown in ("999999_1", "999999_x"):
        with pytest.raises(squeue.ShimError) as e:
            squeue.select(squeue.parse(["-j", unknown], environ={}), conn)
        assert e.value.text == "slurm_load_jobs error: Invalid job id specified"
    for nothing in ("5_x", "5_[1-2]", "999999_1,999998"):
        assert squeue.select(squeue.parse(["-j", nothing], environ={}), conn) == []
    with pytest.raises(squeue.ShimError, match="squeue: error: Invalid job id: abc"):
        squeue.parse(["-j", "abc"], environ={})


@pytest.mark.parametrize("item, error", [              # Slurm 22.05's sacct -j ITEM
    ("abc", "Bad job/step specified: abc"), ("5.x", "Bad step specified: 5"),
    ("19_x", "Bad job array element specified: 19"), ("19_[1-2]", "Bad job array element specified: 19"),
])
def test_sacct_j_malformed(item, error):
    with pytest.raises(sacct.ShimError) as e:
        sacct.parse(["-j", item], 100.0, root=True)
    assert (e.value.text, e.value.exit_code) == (f"sacct: fatal: {error}", 1)


def test_sacct_j_task_and_array():
    jobs = array(running=(1, 2))
    now = 100.0
    assert sacct.parse(["-j", "5_2,7"], now, root=True).tasks == [(5, 2)]
    chosen = sacct.select(sacct.parse(["-j", "5_2"], now, root=True), Recorder(jobs), now)
    assert [(j.id, j.array_task_id) for j in chosen] == [(106, 2)]
    assert len(sacct.select(sacct.parse(["-j", "5"], now, root=True), Recorder(jobs), now)) == 3
    assert sacct.parse(["-j", "5_3.batch,6.extern"], now, root=True).tasks == [(5, 3)]


# -- PBS --------------------------------------------------------------------------------------

def test_qdel_subjobs_and_ranges(capsys):
    unknown = R(job_id=5, task=pb.ArrayTaskRef(array_job_id=5, task=3), code=R.UNKNOWN_JOB)
    client = Recorder(array(), [unknown])
    assert run(qdel, ["5[3]", "6.pbshost", "5[7-8]"], client, capsys) == \
        (153, "qdel: Unknown Job Id 5[3].pbshost\n")
    assert client.calls == [("cancel", [6], {"tasks": [(5, 3), (5, 7), (5, 8)]})]


def test_qsig_suspend_and_resume_are_their_calls(capsys):
    client = Recorder(array())
    assert run(qsig, ["-s", "suspend", "5[2]"], client, capsys) == (0, "")
    assert run(qsig, ["-s", "resume", "6"], client, capsys) == (0, "")
    assert run(qsig, ["-s", "USR1", "6"], client, capsys) == (0, "")
    assert client.calls == [("suspend", [], {"tasks": [(5, 2)]}), ("resume", [6], {"tasks": []}),
                            ("signal", [6], {"signal": 10, "tasks": []})]
    denied = Recorder(array(), [R(job_id=6, code=R.NOT_PERMITTED)])
    assert run(qsig, ["-s", "suspend", "6"], denied, capsys) == (159, "qsig: Unauthorized Request  6.pbshost\n")


class StaffOnly(Recorder):
    """ctld refusing Suspend and Resume to a user at the door (auth's STAFF scope)."""

    def suspend(self, job_ids, *, tasks=()):
        raise HpcqError("PERMISSION_DENIED", "user 'bob' may not call Suspend")

    resume = suspend


def test_suspend_by_a_user(capsys):                      # bob's scontrol suspend 30, 19_2 on Slurm 22.05
    assert run(scontrol, ["suspend", "30,19_2"], StaffOnly(array()), capsys) == \
        (1, "Access/permission denied for job 30\nAccess/permission denied for job 19_2\n")
    assert run(qsig, ["-s", "resume", "30", "19[2]"], StaffOnly(array()), capsys) == \
        (159, "qsig: Unauthorized Request  30.pbshost\nqsig: Unauthorized Request  19[2].pbshost\n")


def test_qrerun(capsys):
    client = Recorder(array(), [R(job_id=7, code=R.INVALID_STATE)])
    assert run(qrerun, ["7", "5[2]"], client, capsys) == (168, "qrerun: Request invalid for state of job 7.pbshost\n")
    assert client.calls == [("requeue", [7], {"tasks": [(5, 2)], "hold": False})]
    with pytest.raises(qrerun.ShimError) as e:
        qrerun.parse([])
    assert (e.value.text, e.value.exit_code) == (qrerun.USAGE, 2)
    assert qrerun.parse(["-W", "force", "7"]) == ([JobRef(7)], False)


def test_qmove(capsys):
    client = Recorder(array())
    assert run(qmove, ["long@pbshost", "7", "5[2]", "404"], client, capsys) == \
        (153, "qmove: Unknown Job Id 404.pbshost\n")
    assert [(c[1], c[2], c[3], c[4].queue) for c in client.calls] == \
        [(7, None, ["queue"], "long"), (0, (5, 2), ["queue"], "long"), (404, None, ["queue"], "long")]
    with pytest.raises(qmove.ShimError) as e:
        qmove.parse(["long"])
    assert e.value.exit_code == 2 and e.value.text == qmove.USAGE
    not_queued = HpcqError("FAILED_PRECONDITION", "NOT_QUEUED: job 7 is no longer queued")
    assert qalter.failure(not_queued, JobRef(7), CLUSTER, "qmove").text == \
        "qmove: Request invalid for state of job 7.pbshost"


def test_qalter_of_a_subjob_and_its_dependency(capsys):
    client = Recorder(array())
    assert run(qalter, ["-W", "depend=afterok:9", "5[7]"], client, capsys) == (0, "")
    _, job_id, task, fields, spec = client.calls[-1]
    assert (job_id, task, fields, spec.attributes["depend"]) == (0, (5, 7), ["dependencies", "attributes"],
                                                                "afterok:9")
    assert run(qalter, ["-N", "x", "5[4000]"], client, capsys) == (153, "qalter: Unknown Job Id 5[4000].pbshost\n")


def test_lookup_finds_pending_started_and_missing_tasks():
    found = arrays.lookup(Recorder(array()), [JobRef(5, 2), JobRef(5, 9), JobRef(5, 4000), JobRef(5), JobRef(8)])
    assert {ref: (job.id, job.array_task_id) for ref, job in found.items()} == \
        {JobRef(5, 2): (106, 2), JobRef(5, 9): (5, 9), JobRef(5): (5, 0)}


def test_qstat_names_subjobs_with_the_shared_parser():
    q = qstat.parse(["10[3].pbshost", "11", "workq"])
    assert (q.job_ids, q.indices) == ([10, 11], [3, None])
