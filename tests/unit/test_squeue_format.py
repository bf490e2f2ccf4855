"""squeue's tables from Job records, compared with what Slurm 22.05 printed for the
same jobs (shared/compat/slurm/squeue_*.txt; cluster anchor, node vm, partition batch)."""
from __future__ import annotations

import calendar
import string
import time

import pytest

from hpcq.api import jobs_pb2 as pb
from hpcq.shims.slurm import squeue_format as sf

pytestmark = pytest.mark.usefixtures("utc")


def at(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%S")))


class JobBuilder:
    """A Job as ctld would report it; defaults are the capture's (root, batch)."""

    def __init__(self, job_id: int, name: str, state: int = pb.PENDING) -> None:
        self.job = pb.Job(id=job_id, user="root", state=state, queue="batch")
        self.job.spec.name = name
        self.job.spec.dialect = pb.DIALECT_SLURM
        self.job.spec.submit_dir = "/scratch/anchor/work/deep/cwd dir"

    def reason(self, text: str) -> JobBuilder:
        self.job.reason = text
        return self

    def priority(self, value: int) -> JobBuilder:
        self.job.priority = value
        return self

    def submitted(self, text: str) -> JobBuilder:
        self.job.submit_time = at(text)
        return self

    def started(self, text: str, *nodes: str, cpus: int = 1) -> JobBuilder:
        self.job.start_time = at(text)
        for node in nodes:
            self.job.allocation.slices.add(node=node, cpus=cpus)
        return self

    def ended(self, text: str) -> JobBuilder:
        self.job.end_time = at(text)
        return self

    def nodes(self, count: int, tasks: int = 0) -> JobBuilder:
        self.job.spec.resources.nodes = count
        self.job.spec.resources.tasks = tasks
        return self

    def limit(self, seconds: int) -> JobBuilder:
        self.job.walltime_seconds = seconds
        return self

    def array_rest(self, indices: range, max_running: int) -> JobBuilder:
        """The array's own record while these tasks have not started (of 1-10)."""
        self.job.spec.array.tasks = "1-10"
        self.job.spec.array.max_running = max_running
        self.job.array_job_id = self.job.id
        self.job.array_tasks_pending = f"{indices.start}-{indices.stop - 1}"
        return self

    def array_task(self, parent: int, task: int) -> JobBuilder:
        self.job.array_job_id = parent
        self.job.array_task_id = task
        return self

    def build(self) -> pb.Job:
        return self.job


NOW = at("2026-11-23T13:08:07")


def mixed() -> list[pb.Job]:
    """The jobs of squeue_default_mixed.txt, in no particular order."""
    return [
        JobBuilder(11267, "running", pb.RUNNING).priority(4294892871).submitted("2026-11-23T13:08:03")
        .started("2026-11-23T13:08:05", "vm").build(),
        JobBuilder(11269, "held", pb.HELD).reason("JobHeldUser").submitted("2026-11-23T13:08:05").build(),
        JobBuilder(11270, "begin30", pb.WAITING).reason("BeginTime").priority(4294892869)
        .submitted("2026-11-23T13:08:05").build(),
        JobBuilder(11239, "aa86acc9-590f-487f-b3db-d85154b8b03e.job").reason("PartitionNodeLimit")
        .priority(4294892889).submitted("2026-11-23T13:06:25").nodes(2, tasks=4).limit(600).build(),
        JobBuilder(11268, "pend_res").reason("None").priority(4294892870).submitted("2026-11-23T13:08:05").build(),
        JobBuilder(11251, "arr2.sh").reason("JobArrayTaskLimit").priority(4294892880)
        .submitted("2026-11-23T13:07:50").array_rest(range(7, 11), 2).build(),
    ]


# squeue_default_mixed.txt, stdout
DEFAULT_MIXED = """\
             JOBID PARTITION     NAME     USER ST       TIME  NODES NODELIST(REASON)
             11239     batch aa86acc9     root PD       0:00      2 (PartitionNodeLimit)
    11251_[7-10%2]     batch  arr2.sh     root PD       0:00      1 (JobArrayTaskLimit)
             11268     batch pend_res     root PD       0:00      1 (None)
             11270     batch  begin30     root PD       0:00      1 (BeginTime)
             11269     batch     held     root PD       0:00      1 (JobHeldUser)
             11267     batch  running     root  R       0:02      1 vm
"""


def test_default_table():
    assert sf.render(sf.sort_jobs(mixed()), NOW) == DEFAULT_MIXED


def test_explicit_default_format():                 # squeue_u_root_format.txt
    jobs = sf.sort_jobs(mixed())
    assert sf.render(jobs, NOW, fmt="%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R") == DEFAULT_MIXED


def test_running_and_pending_lines():
    running, pending = mixed()[0], mixed()[3]
    assert sf.render([running, pending], NOW, header=False) == (
        "             11267     batch  running     root  R       0:02      1 vm\n"
        "             11239     batch aa86acc9     root PD       0:00      2 (PartitionNodeLimit)\n")


def test_long():                                    # squeue_long.txt
    assert sf.render(sf.sort_jobs(mixed()), NOW, long=True) == """\
Mon Nov 23 13:08:07 2026
             JOBID PARTITION     NAME     USER    STATE       TIME TIME_LIMI  NODES NODELIST(REASON)
             11239     batch aa86acc9     root  PENDING       0:00     10:00      2 (PartitionNodeLimit)
    11251_[7-10%2]     batch  arr2.sh     root  PENDING       0:00 UNLIMITED      1 (JobArrayTaskLimit)
             11268     batch pend_res     root  PENDING       0:00 UNLIMITED      1 (None)
             11270     batch  begin30     root  PENDING       0:00 UNLIMITED      1 (BeginTime)
             11269     batch     held     root  PENDING       0:00 UNLIMITED      1 (JobHeldUser)
             11267     batch  running     root  RUNNING       0:02 UNLIMITED      1 vm
"""


def test_noheader_custom_format():                  # squeue_h_o_i_T_r.txt
    assert sf.render(sf.sort_jobs(mixed()), NOW, fmt="%i %T %r", header=False) == """\
11239 PENDING PartitionNodeLimit
11251_[7-10%2] PENDING JobArrayTaskLimit
11268 PENDING None
11270 PENDING BeginTime
11269 PENDING JobHeldUser
11267 RUNNING None
"""


def test_width_cuts_and_justifies():                # squeue_dependency_after_parent_failed.txt
    jobs = [mixed()[3], JobBuilder(11251, "arr2.sh").reason("Resources").array_rest(range(5, 11), 2).build(),
            JobBuilder(11255, "dep_afterok").reason("DependencyNeverSatisfied").build()]
    assert sf.render(jobs, NOW, fmt="%.8i %.16j %.9T %.30r") == """\
   JOBID             NAME     STATE                         REASON
   11239 aa86acc9-590f-48   PENDING             PartitionNodeLimit
11251_[5          arr2.sh   PENDING                      Resources
   11255      dep_afterok   PENDING       DependencyNeverSatisfied
"""


def test_left_justified_width():
    job = mixed()[0]
    assert sf.render([job], NOW, fmt="%8i|%4j|%5t|") == "JOBID   |NAME|ST   |\n11267   |runn|R    |\n"


def test_a_piece_that_is_no_field_is_printed_as_written():
    # squeue 22.05 (checked by tests/conformance against Slurm): "-" is no justification but
    # an unknown field letter; the piece is said to be invalid and printed as written, and
    # "%%" is an empty piece.
    job = mixed()[0]
    assert sf.render([job], NOW, fmt="%-8i|%.5t %%") == "%-8i|   ST \n%-8i|    R \n"
    assert sf.format_errors("%-8i|%.5t %! %") == ["Invalid job format specification: -",
                                                  "Invalid job format specification: !"]


def test_named_fields_take_width_justification_and_suffix():
    job = mixed()[0]
    named = sf.parse_named_format("JobID:8|,State:.10,Reason:5,bogus,JobID:,JobID")
    assert sf.render_named([job], NOW, named) == \
        "JOBID   |     STATEREASOJOBIDJOBID               \n11267   |   RUNNINGNone 1126711267               \n"
    assert sf.named_format_errors("JobID,bogus") == ["Invalid job format specification: bogus"]


def test_settled_array_tasks():                     # squeue_default_mixed_settled.txt
    tasks = [JobBuilder(11253 + i, "arr2.sh", pb.RUNNING).priority(4294892880).array_task(11251, task)
             .started("2026-11-23T13:08:07", "vm").build() for i, task in enumerate((7, 8))]
    lines = sf.render(sf.sort_jobs(mixed()[:1] + tasks), at("2026-11-23T13:08:07"), header=False).splitlines()
    assert lines == ["           11251_7     batch  arr2.sh     root  R       0:00      1 vm",
                     "           11251_8     batch  arr2.sh     root  R       0:00      1 vm",
                     "             11267     batch  running     root  R       0:02      1 vm"]


def test_finished_states():                         # squeue_t_all_after_cancel.txt, _exit3_killsig.txt
    cancelled = [JobBuilder(i, n, pb.CANCELLED).started("2026-11-23T13:08:05", "vm").ended("2026-11-23T13:08:09")
                 .build() for i, n in ((11267, "running"), (11268, "pend_res"))]
    assert sf.render(cancelled, NOW, fmt="%i %T %r") == \
        "JOBID STATE REASON\n11267 CANCELLED None\n11268 CANCELLED None\n"
    failed = JobBuilder(11274, "exit3", pb.FAILED).reason("NonZeroExitCode").build()
    assert sf.render([failed], NOW, fmt="%i %j %T %r", header=False) == "11274 exit3 FAILED NonZeroExitCode\n"
    assert sf.render([failed], NOW, fmt="%R %t", header=False) == "(NonZeroExitCode) F\n"
    assert sf.render(cancelled[:1], NOW, fmt="%M %R", header=False) == "0:04 vm\n"


def test_fields_of_all():                           # squeue_all_fields.txt, the same columns
    fmt = "%i|%P|%u|%j|%t|%T|%r|%C|%D|%l|%L|%M|%S|%V|%p|%Q|%R|%N|%B|%a|%k|%E|%F|%K|%y|%Z"
    jobs = mixed()
    jobs[3].spec.submit_dir = "/tmp/psij-suite"
    text = sf.render([jobs[3], jobs[0]], NOW, fmt=fmt)
    assert text.splitlines() == [
        "JOBID|PARTITION|USER|NAME|ST|STATE|REASON|CPUS|NODES|TIME_LIMIT|TIME_LEFT|TIME|START_TIME|SUBMIT_TIME|"
        "PRIORITY|PRIORITY|NODELIST(REASON)|NODELIST|EXEC_HOST|ACCOUNT|COMMENT|DEPENDENCY|ARRAY_JOB_ID|"
        "ARRAY_TASK_ID|NICE|WORK_DIR",
        "11239|batch|root|aa86acc9-590f-487f-b3db-d85154b8b03e.job|PD|PENDING|PartitionNodeLimit|4|2|10:00|10:00|"
        "0:00|N/A|2026-11-23T13:06:25|0.99998267600312|4294892889|(PartitionNodeLimit)||n/a|(null)|(null)|(null)|"
        "11239|N/A|0|/tmp/psij-suite",
        "11267|batch|root|running|R|RUNNING|None|1|1|UNLIMITED|UNLIMITED|0:02|2026-11-23T13:08:05|"
        "2026-11-23T13:08:03|0.99998267181217|4294892871|vm|vm|vm|(null)|(null)|(null)|11267|N/A|0|"
        "/scratch/anchor/work/deep/cwd dir",
    ]


def test_end_time_and_time_left_of_a_limited_running_job():
    job = JobBuilder(1, "x", pb.RUNNING).started("2026-11-23T13:00:00", "vm").limit(3600).build()
    assert sf.render([job], at("2026-11-23T13:10:00"), fmt="%e %L %l", header=False) == \
        "2026-11-23T14:00:00 50:00 1:00:00\n"


def test_sort_is_partition_state_priority():
    jobs = mixed()
    order = [job.id for job in sf.sort_jobs(jobs)]
    assert order == [11239, 11251, 11268, 11270, 11269, 11267]


def test_every_letter_is_a_field():
    # Slurm 22.05 gives every letter a meaning, so no letter is unknown.
    assert len(sf.parse_format("".join(f"%{c}" for c in string.ascii_letters))[1]) == 52


def test_prefix_and_suffix_text():
    prefix, fields = sf.parse_format("<%i> [%.3t]")
    assert prefix == "<" and [(f.letter, f.width, f.right, f.suffix) for f in fields] == \
        [("i", 0, False, "> ["), ("t", 3, True, "]")]


def test_nodelist_is_compressed():
    job = JobBuilder(5, "wide", pb.RUNNING).started("2026-11-23T13:08:00", "n01", "n02", "n03", "n05").build()
    assert sf.render([job], NOW, fmt="%N %D %C", header=False) == "n[01-03,05] 4 4\n"


# -- the commands around the formatter, with a stand-in for the server ---------------------

class FakeClient:
    def __init__(self, jobs: list[pb.Job]) -> None:
        self.jobs = {job.id: job for job in jobs}

    def get(self, ids):
        return [self.jobs[i] for i in ids if i in self.jobs], [i for i in ids if i not in self.jobs]

    def list(self, *, states=(), include_finished=False, **filters):
        def wanted(job: pb.Job) -> bool:
            return job.state in states if states else (include_finished or job.state < pb.COMPLETED)
        return [job for job in self.jobs.values() if wanted(job)]


class FakeConnection:
    def __init__(self, jobs: list[pb.Job]) -> None:
        self.client = FakeClient(jobs)
        self.cluster = "anchor"


def test_squeue_unknown_single_id():                        # squeue_unknown.txt: exit 1
    from hpcq.shims.slurm import squeue
    with pytest.raises(squeue.ShimError) as e:
        squeue.select(squeue.parse(["-j", "999999"]), FakeConnection(mixed()))
    assert (e.value.text, e.value.exit_code) == ("slurm_load_jobs error: Invalid job id specified", 1)
    # several ids: the unknown ones are left out, as squeue
    assert [j.id for j in squeue.select(squeue.parse(["-j", "999999,11267"]), FakeConnection(mixed()))] == [11267]


def test_squeue_finished_job_by_id_shows_nothing_without_t():   # squeue_after_cancel.txt
    from hpcq.shims.slurm import squeue
    done = JobBuilder(11268, "pend_res", pb.CANCELLED).build()
    conn = FakeConnection([done])
    assert squeue.select(squeue.parse(["-j", "11268"]), conn) == []
    assert [j.id for j in squeue.select(squeue.parse(["-t", "all", "-j", "11268"]), conn)] == [11268]


def test_squeue_options():
    from hpcq.shims.slurm import squeue
    q = squeue.parse(["-h", "-u", "root,bob", "--me", "-t", "PD,r", "-o", "%i", "-p", "batch", "-n", "x"],
                     environ={}, user="alice")
    assert (q.header, q.users, q.fmt, q.partitions, q.names) == \
        (False, ["root", "bob", "alice"], "%i", ["batch"], ["x"])
    assert set(q.states) == {pb.PENDING, pb.HELD, pb.WAITING, pb.RUNNING}
    assert squeue.parse(["-l"], environ={}).fmt == sf.LONG_FORMAT
    assert squeue.parse([], environ={"SQUEUE_FORMAT": "%i %j"}).fmt == "%i %j"
    assert [j.id for j in squeue.select(squeue.parse(["-t", "R"], environ={}), FakeConnection(mixed()))] == [11267]
    for argv, text in ((["--bogus"], "squeue: unrecognized option '--bogus'"),
                       (["-t", "NOPE"], "squeue: error: Invalid job state specified: NOPE"),
                       (["-S", "i,%"], "squeue: error: Invalid sort specification: %"),
                       (["-j", "abc"], "squeue: error: Invalid job id: abc")):
        with pytest.raises(squeue.ShimError) as e:
            squeue.parse(argv, environ={})
        assert e.value.text.splitlines()[0] == text.splitlines()[0] and e.value.exit_code == 1


def test_scancel_reports():                     # scancel_unknown.txt, scancel_unknown_v.txt, scancel_bad_id.txt
    from hpcq.shims.slurm import scancel
    R = pb.JobActionResult
    unknown = [R(job_id=999999, code=R.UNKNOWN_JOB)]
    assert scancel.report(unknown, verbose=False) == ([], 0)
    assert scancel.report(unknown, verbose=True) == \
        (["scancel: error: Kill job error on job id 999999: Invalid job id specified"], 0)
    assert scancel.report([R(job_id=5, code=R.NOT_PERMITTED)], verbose=False) == \
        (["scancel: error: Kill job error on job id 5: Access/permission denied"], 210)   # ESLURM_ACCESS_DENIED
    with pytest.raises(scancel.ShimError) as e:
        scancel.parse(["abc"])
    assert (e.value.text, e.value.exit_code) == ("scancel: error: Invalid job id abc", 1)
    with pytest.raises(scancel.ShimError) as e:
        scancel.parse([])
    assert e.value.text == "scancel: error: No job identification provided"
    r = scancel.parse(["--signal=USR1", "-u", "root", "11267", "11268"])
    assert (r.signal, [ref.job_id for ref in r.refs], r.filters.users) == (10, [11267, 11268], ["root"])


# -- -O, --start, -S -----------------------------------------------------------------------

def test_named_fields():                            # squeue_O_JobID_State_Reason.txt
    fields = sf.parse_named_format("JobID,State,Reason")
    assert sf.render_named(sf.sort_jobs(mixed())[:2], NOW, fields).splitlines() == [
        "JOBID               STATE               REASON              ",
        "11239               PENDING             PartitionNodeLimit  ",
        "11251               PENDING             JobArrayTaskLimit   "]
    fields = sf.parse_named_format("jobarrayid:.16,name:4,timeused")
    assert sf.render_named(sf.sort_jobs(mixed())[1:2], NOW, fields, header=False) == \
        "  11251_[7-10%2]arr20:00                \n"
    # An unknown name is said (named_format_errors); only its suffix is printed; exit 0.
    assert sf.render_named(sf.sort_jobs(mixed())[:1], NOW, sf.parse_named_format("JobID:6,Bogus:3|")) == \
        "JOBID |\n11239 |\n"


def test_start_order_and_reserved_start():           # squeue_start.txt
    jobs = {j.id: j for j in mixed() if j.state != pb.RUNNING}
    jobs[11268].planned_start_time = at("2026-11-23T14:00:00")    # reserved by the scheduler
    jobs[11270].spec.begin_time = at("2026-11-23T13:08:35")       # --begin
    jobs = list(jobs.values())
    ordered = sf.sort_by_start(jobs, NOW)
    assert [j.id for j in ordered] == [11270, 11268, 11239, 11251, 11269]
    assert sf.render(ordered[:2], NOW, fmt="%i %S %e", header=False) == \
        "11270 2026-11-23T13:08:35 NONE\n11268 2026-11-23T14:00:00 NONE\n"


def test_sort_by_fields():
    jobs = mixed()
    assert [j.id for j in sf.sort_by(jobs, sf.parse_sort("i"), NOW)] == [11239, 11251, 11267, 11268, 11269, 11270]
    assert [j.id for j in sf.sort_by(jobs, sf.parse_sort("-t,j"), NOW)][:3] == [11267, 11239, 11251]
    with pytest.raises(sf.FormatError):
        sf.parse_sort("i,%")


def test_held_job_shows_priority_zero():               # squeue_after_hold.txt
    held = JobBuilder(11268, "pend_res", pb.HELD).reason("JobHeldAdmin").priority(4294892870).build()
    assert sf.render([held], NOW, fmt="%i %T %r %p %Q", header=False) == \
        "11268 PENDING JobHeldAdmin 0.00000000000000 0\n"


def test_finished_jobs_get_slurms_reason_words():
    def ended(state, **fields):
        return pb.Job(id=1, state=state, reason="None", **fields)
    assert [sf.reason(j) for j in (ended(pb.FAILED, exit_code=3), ended(pb.FAILED, signal=9), ended(pb.TIMEOUT),
                                   ended(pb.OUT_OF_MEMORY), ended(pb.NODE_FAIL), ended(pb.CANCELLED),
                                   ended(pb.COMPLETED))] == \
        ["NonZeroExitCode", "JobLaunchFailure", "TimeLimit", "OutOfMemory", "NodeDown", "None", "None"]


def test_dependency_column():
    job = JobBuilder(11255, "dep").reason("Dependency").build()
    job.spec.attributes["dependency"] = "afterok:11254:11253"
    job.spec.dependencies.add(kind=pb.Dependency.AFTER_OK, job_ids=[11254, 11253])
    assert sf.dependency(job) == "afterok:11254(unfulfilled),afterok:11253(unfulfilled)"
    job.reason = "DependencyNeverSatisfied"
    job.spec.dependency_any = True
    assert sf.dependency(job) == "afterok:11254(failed)?afterok:11253(failed)"
    job.state = pb.RUNNING
    assert sf.dependency(job) == "(null)"


def test_output_paths():
    job = JobBuilder(11245, "pat").build()
    job.spec.stdout_path = "o_%x_%j_%u_%4a.out"
    assert sf.output_path(job, "o") == "/scratch/anchor/work/deep/cwd dir/o_pat_11245_root_4294967294.out"
    assert sf.output_path(job, "e") == sf.output_path(job, "o")          # stderr goes with stdout
    job.spec.stderr_path = "/tmp/e_%%_%J.err"
    assert sf.output_path(job, "e") == "/tmp/e_%_11245.err"


def test_squeue_new_options():
    from hpcq.shims.slurm import squeue
    q = squeue.parse(["--start", "-O", "JobID,State", "-S", "-p"], environ={})
    assert q.start and q.fmt == sf.START_FORMAT and [f.name for f in q.named] == ["jobid", "state"]
    assert set(q.states) == {pb.PENDING, pb.HELD, pb.WAITING} and q.sort == [("p", True)]


def test_slurm_time_format(monkeypatch):
    t = at("2026-11-23T13:08:07")
    assert sf.slurm_time(t) == "2026-11-23T13:08:07"
    monkeypatch.setenv("SLURM_TIME_FORMAT", "%H:%M %d.%m")
    assert sf.slurm_time(t) == "13:08 23.11"
    monkeypatch.setenv("SLURM_TIME_FORMAT", "relative")
    assert [sf.slurm_time(t + d * 86400, now=t) for d in (0, 1, -1, 3)] == \
        ["13:08:07", "Tomorr 13:08", "Ystday 13:08", "Thu 13:08"]
