"""qstat's tables and full listing from Job records, compared with what OpenPBS 23.06
printed for the same jobs (shared/compat/openpbs/qstat_*.txt; server pbshost)."""
from __future__ import annotations

import calendar
import time

import pytest

from hpcq.api import jobs_pb2 as pb
from hpcq.shims.errors import ShimError
from hpcq.shims.pbs import qstat_format as qf

CLUSTER = "pbshost"
ENV = {"PBS_O_HOME": "/home/pbsuser", "PBS_O_LOGNAME": "pbsuser",
       "PBS_O_PATH": "/opt/pbs/bin:/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games:/opt/pbs/bin",
       "PBS_O_MAIL": "/var/mail/pbsuser", "PBS_O_SHELL": "/bin/bash", "PBS_O_INTERACTIVE_AUTH_METHOD": "resvport",
       "PBS_O_INTERACTIVE_ENCRYPT_METHOD": "", "PBS_O_WORKDIR": "/scratch/pbswork/odd_cwd", "PBS_O_SYSTEM": "Linux",
       "PBS_O_QUEUE": "workq", "PBS_O_HOST": "pbshost"}


pytestmark = pytest.mark.usefixtures("utc")


def at(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S")))


class JobBuilder:
    """A PBS job as ctld would report it; defaults are the capture's (pbsuser, workq)."""

    def __init__(self, job_id: int, name: str, state: int = pb.PENDING) -> None:
        self.job = pb.Job(id=job_id, user="pbsuser", state=state, queue="workq", attempt=1)
        s = self.job.spec
        s.name, s.dialect, s.submit_host, s.submit_dir = name, pb.DIALECT_PBS, "pbshost", "/scratch/pbswork/odd_cwd"
        s.environment.update(ENV)

    def submitted(self, text: str) -> JobBuilder:
        self.job.submit_time = at(text)
        return self

    def started(self, text: str, session: int = 0, cpu: int = 0, mem_mb: int = 0) -> JobBuilder:
        self.job.start_time = at(text)
        self.job.session_id = session
        self.job.allocation.slices.add(node="pbshost", cpus=1, mem_mb=mem_mb, cpu_ids=[cpu])
        return self

    def ended(self, text: str, exit_code: int = 0, signal: int = 0) -> JobBuilder:
        self.job.end_time = at(text)
        self.job.exit_code, self.job.signal = exit_code, signal
        return self

    def walltime(self, seconds: int) -> JobBuilder:
        self.job.walltime_seconds = self.job.spec.walltime_seconds = seconds
        return self

    def mem(self, mb: int) -> JobBuilder:
        self.job.spec.resources.mem_per_node_mb = mb
        return self

    def reason(self, text: str) -> JobBuilder:
        self.job.reason = text
        return self

    def command(self, submit_arguments: str, executable: str, arguments: str) -> JobBuilder:
        attrs = self.job.spec.attributes
        attrs["submit_arguments"], attrs["executable"], attrs["argument_list"] = submit_arguments, executable, arguments
        return self

    def build(self) -> pb.Job:
        return self.job


def views() -> list[pb.Job]:
    """R1, R2, Q1, H1 of qstat_views.txt."""
    return [
        JobBuilder(21, "run_one", pb.RUNNING).submitted("2026-11-23 12:39:01").started("2026-11-23 12:39:01", 18440)
        .walltime(600).mem(200).build(),
        JobBuilder(22, "run_two", pb.RUNNING).submitted("2026-11-23 12:39:01")
        .started("2026-11-23 12:39:02", 18542, cpu=1).build(),
        JobBuilder(23, "queued_one").reason("Resources").submitted("2026-11-23 12:39:03").walltime(3600).build(),
        JobBuilder(24, "held_one", pb.HELD).reason("JobHeldUser").submitted("2026-11-23 12:39:03").build(),
    ]


NOW = at("2026-11-23 12:39:11")


def test_default_table():                                   # qstat_views.txt: qstat
    assert qf.render_default(views(), CLUSTER) == """\
Job id            Name             User              Time Use S Queue
----------------  ---------------- ----------------  -------- - -----
21.pbshost        run_one          pbsuser           00:00:00 R workq           
22.pbshost        run_two          pbsuser           00:00:00 R workq           
23.pbshost        queued_one       pbsuser                  0 Q workq           
24.pbshost        held_one         pbsuser                  0 H workq           
"""  # noqa: W291 - PBS pads its columns with spaces


def test_no_jobs_no_header():                               # qstat -u root: nothing at all
    assert qf.render_default([], CLUSTER) == ""
    assert qf.render_alt([], NOW, CLUSTER) == ""


def test_wide_table():                                      # qstat -w
    assert qf.render_default(views(), CLUSTER, wide=True) == """\
Job id                         Name            User             Time Use S Queue
-----------------------------  --------------- ---------------  -------- - ---------------
21.pbshost                     run_one         pbsuser          00:00:00 R workq          
22.pbshost                     run_two         pbsuser          00:00:00 R workq          
23.pbshost                     queued_one      pbsuser                 0 Q workq          
24.pbshost                     held_one        pbsuser                 0 H workq          
"""  # noqa: W291 - PBS pads its columns with spaces


ALT_HEADER = """
pbshost: 
                                                            Req'd  Req'd   Elap
Job ID          Username Queue    Jobname    SessID NDS TSK Memory Time  S Time
--------------- -------- -------- ---------- ------ --- --- ------ ----- - -----
"""  # noqa: W291 - PBS pads its columns with spaces


def test_alternate_table():                                 # qstat -a, qstat -u pbsuser
    assert qf.render_alt(views(), NOW, CLUSTER) == ALT_HEADER + """\
21.pbshost      pbsuser  workq    run_one     18440   1   1  200mb 00:10 R 00:00
22.pbshost      pbsuser  workq    run_two     18542   1   1    --    --  R 00:00
23.pbshost      pbsuser  workq    queued_one    --    1   1    --  01:00 Q   -- 
24.pbshost      pbsuser  workq    held_one      --    1   1    --    --  H   -- 
"""  # noqa: W291 - PBS pads its columns with spaces


def test_alternate_nodes_one_line():                        # qstat -n -1
    assert qf.render_alt(views(), NOW, CLUSTER, qf.AltOptions(nodes=True, one_line=True)) == ALT_HEADER + """\
21.pbshost      pbsuser  workq    run_one     18440   1   1  200mb 00:10 R 00:00 pbshost/0
22.pbshost      pbsuser  workq    run_two     18542   1   1    --    --  R 00:00 pbshost/1
23.pbshost      pbsuser  workq    queued_one    --    1   1    --  01:00 Q   --   -- 
24.pbshost      pbsuser  workq    held_one      --    1   1    --    --  H   --   -- 
"""  # noqa: W291 - PBS pads its columns with spaces


def test_alternate_comments():                              # qstat -s
    jobs = views()
    jobs[0].allocation.slices[0].mem_mb = 200
    assert qf.render_alt(jobs, NOW, CLUSTER, qf.AltOptions(comments=True)) == ALT_HEADER + """\
21.pbshost      pbsuser  workq    run_one     18440   1   1  200mb 00:10 R 00:00
   Job run at Mon Nov 23 at 12:39 on (pbshost:mem=204800kb:ncpus=1)
22.pbshost      pbsuser  workq    run_two     18542   1   1    --    --  R 00:00
   Job run at Mon Nov 23 at 12:39 on (pbshost:ncpus=1)
23.pbshost      pbsuser  workq    queued_one    --    1   1    --  01:00 Q   -- 
   Not Running: Not enough free nodes available
24.pbshost      pbsuser  workq    held_one      --    1   1    --    --  H   -- 
    -- 
"""  # noqa: W291 - PBS pads its columns with spaces


def test_alternate_wide():                                  # qstat -a -w
    assert qf.render_alt(views(), NOW, CLUSTER, qf.AltOptions(wide=True)) == f"""
pbshost: 
{' ' * 99}Req'd  Req'd   Elap
Job ID                         Username        Queue           Jobname         SessID   NDS  TSK   Memory Time  S Time
------------------------------ --------------- --------------- --------------- -------- ---- ----- ------ ----- - -----
21.pbshost                     pbsuser         workq           run_one            18440    1     1  200mb 00:10 R 00:00
22.pbshost                     pbsuser         workq           run_two            18542    1     1    --    --  R 00:00
23.pbshost                     pbsuser         workq           queued_one           --     1     1    --  01:00 Q   -- 
24.pbshost                     pbsuser         workq           held_one             --     1     1    --    --  H   -- 
"""  # noqa: W291 - PBS pads its columns with spaces


def test_truncation_marks():                                # dependencies.txt: qstat -a
    job = JobBuilder(14, "afternotok_ok", pb.HELD).build()
    assert qf.render_alt([job], NOW, CLUSTER).splitlines()[-1] == \
        "14.pbshost      pbsuser  workq    afternoto*    --    1   1    --    --  H   -- "
    long_name = JobBuilder(15, "a_name_of_sixteen", pb.PENDING).build()
    assert qf.render_default([long_name], CLUSTER).splitlines()[-1].startswith("15.pbshost        a_name_of_sixte* ")


def test_history():                                         # exit_status.txt: qstat -x / -xa
    jobs = [
        JobBuilder(28, "exit3", pb.FAILED).started("2026-11-23 12:46:21").ended("2026-11-23 12:46:22", 3).build(),
        JobBuilder(29, "wallkill", pb.TIMEOUT).walltime(5).started("2026-11-23 12:46:21", 20805)
        .ended("2026-11-23 12:46:37").build(),
        JobBuilder(23, "renamed", pb.CANCELLED).reason("Resources").build(),
    ]
    assert qf.render_default(jobs, CLUSTER).splitlines()[2:] == [
        "28.pbshost        exit3            pbsuser           00:00:00 F workq           ",
        "29.pbshost        wallkill         pbsuser           00:00:00 F workq           ",
        "23.pbshost        renamed          pbsuser                  0 F workq           "]
    assert qf.render_alt(jobs[:2], NOW, CLUSTER).splitlines()[5:] == [
        "28.pbshost      pbsuser  workq    exit3         --    1   1    --    --  F 00:00",
        "29.pbshost      pbsuser  workq    wallkill    20805   1   1    --  00:00 F 00:00"]


def test_exit_status_and_comment():                         # exit_status.txt, qdel.txt
    def finished(state, **kw):
        job = JobBuilder(30, "x", state).started("2026-11-23 12:46:22").ended("2026-11-23 12:46:26", **kw).build()
        attrs = dict(qf.full_attributes(job, NOW, CLUSTER))
        return attrs.get("Exit_status"), attrs["substate"], attrs["comment"]

    on = "Job run at Mon Nov 23 at 12:46 on (pbshost:ncpus=1)"
    assert finished(pb.FAILED, exit_code=3) == ("3", "93", on + " and failed")
    assert finished(pb.TIMEOUT) == ("-29", "93", on + " and exceeded resource walltime")
    assert finished(pb.CANCELLED, signal=15) == ("271", "91", on + " and terminated")
    assert finished(pb.FAILED, signal=9) == ("265", "93", on + " and failed")
    assert finished(pb.COMPLETED) == ("0", "92", on + " and finished")
    never_ran = dict(qf.full_attributes(JobBuilder(23, "q", pb.CANCELLED).reason("Resources").build(), NOW, CLUSTER))
    assert "Exit_status" not in never_ran
    assert never_ran["comment"] == "Not Running: Not enough free nodes available and terminated"


# qstat_f_running.txt, but for resources_used.vmem (hpcq does not measure it) and
# mtime (when PBS last touched the record; hpcq shows the latest event it knows).
FULL_RUNNING = """\
Job Id: 21.pbshost
    Job_Name = run_one
    Job_Owner = pbsuser@pbshost
    resources_used.cpupercent = 0
    resources_used.cput = 00:00:00
    resources_used.mem = 1312kb
    resources_used.ncpus = 1
    resources_used.walltime = 00:00:10
    job_state = R
    queue = workq
    server = pbshost
    Checkpoint = u
    ctime = Mon Nov 23 12:39:01 2026
    Error_Path = pbshost:/scratch/pbswork/odd_cwd/run_one.e21
    exec_host = pbshost/0
    exec_vnode = (pbshost:mem=204800kb:ncpus=1)
    Hold_Types = n
    Join_Path = n
    Keep_Files = n
    Mail_Points = a
    mtime = Mon Nov 23 12:39:01 2026
    Output_Path = pbshost:/scratch/pbswork/odd_cwd/run_one.o21
    Priority = 0
    qtime = Mon Nov 23 12:39:01 2026
    Rerunable = True
    Resource_List.mem = 200mb
    Resource_List.ncpus = 1
    Resource_List.nodect = 1
    Resource_List.place = pack
    Resource_List.select = 1:mem=200mb:ncpus=1
    Resource_List.walltime = 00:10:00
    stime = Mon Nov 23 12:39:01 2026
    session_id = 18440
    jobdir = /home/pbsuser
    substate = 42
    Variable_List = PBS_O_HOME=/home/pbsuser,PBS_O_LOGNAME=pbsuser,
\tPBS_O_PATH=/opt/pbs/bin:/usr/local/bin:/usr/bin:/bin:/usr/local/games:
\t/usr/games:/opt/pbs/bin,PBS_O_MAIL=/var/mail/pbsuser,
\tPBS_O_SHELL=/bin/bash,PBS_O_INTERACTIVE_AUTH_METHOD=resvport,
\tPBS_O_INTERACTIVE_ENCRYPT_METHOD=,PBS_O_WORKDIR=/scratch/pbswork/odd_cwd,
\tPBS_O_SYSTEM=Linux,PBS_O_QUEUE=workq,PBS_O_HOST=pbshost
    comment = Job run at Mon Nov 23 at 12:39 on (pbshost:mem=204800kb:ncpus=1)
    etime = Mon Nov 23 12:39:01 2026
    run_count = 1
    Submit_arguments = -N run_one -l walltime=00:10:00 -l mem=200mb -- /bin/sle
\tep 300
    executable = <jsdl-hpcpa:Executable>/bin/sleep</jsdl-hpcpa:Executable>
    argument_list = <jsdl-hpcpa:Argument>300</jsdl-hpcpa:Argument>
    project = _pbs_project_default
    Submit_Host = pbshost

"""


def test_full_running():
    job = (JobBuilder(21, "run_one", pb.RUNNING).submitted("2026-11-23 12:39:01")
           .started("2026-11-23 12:39:01", 18440, mem_mb=200).walltime(600).mem(200)
           .command("-N run_one -l walltime=00:10:00 -l mem=200mb -- /bin/sleep 300", "/bin/sleep", "300").build())
    job.max_rss_kb = 1312
    assert qf.render_full([job], NOW, CLUSTER) == FULL_RUNNING


def test_full_queued():                                     # qstat_f_queued.txt, all of it
    job = (JobBuilder(23, "queued_one").reason("Resources").submitted("2026-11-23 12:39:03").walltime(3600)
           .command("-N queued_one -l walltime=01:00:00 -- /bin/sleep 300", "/bin/sleep", "300").build())
    assert qf.render_full([job], NOW, CLUSTER) == """\
Job Id: 23.pbshost
    Job_Name = queued_one
    Job_Owner = pbsuser@pbshost
    job_state = Q
    queue = workq
    server = pbshost
    Checkpoint = u
    ctime = Mon Nov 23 12:39:03 2026
    Error_Path = pbshost:/scratch/pbswork/odd_cwd/queued_one.e23
    Hold_Types = n
    Join_Path = n
    Keep_Files = n
    Mail_Points = a
    mtime = Mon Nov 23 12:39:03 2026
    Output_Path = pbshost:/scratch/pbswork/odd_cwd/queued_one.o23
    Priority = 0
    qtime = Mon Nov 23 12:39:03 2026
    Rerunable = True
    Resource_List.ncpus = 1
    Resource_List.nodect = 1
    Resource_List.place = pack
    Resource_List.select = 1:ncpus=1
    Resource_List.walltime = 01:00:00
    substate = 10
    Variable_List = PBS_O_HOME=/home/pbsuser,PBS_O_LOGNAME=pbsuser,
\tPBS_O_PATH=/opt/pbs/bin:/usr/local/bin:/usr/bin:/bin:/usr/local/games:
\t/usr/games:/opt/pbs/bin,PBS_O_MAIL=/var/mail/pbsuser,
\tPBS_O_SHELL=/bin/bash,PBS_O_INTERACTIVE_AUTH_METHOD=resvport,
\tPBS_O_INTERACTIVE_ENCRYPT_METHOD=,PBS_O_WORKDIR=/scratch/pbswork/odd_cwd,
\tPBS_O_SYSTEM=Linux,PBS_O_QUEUE=workq,PBS_O_HOST=pbshost
    comment = Not Running: Not enough free nodes available
    etime = Mon Nov 23 12:39:03 2026
    Submit_arguments = -N queued_one -l walltime=01:00:00 -- /bin/sleep 300
    executable = <jsdl-hpcpa:Executable>/bin/sleep</jsdl-hpcpa:Executable>
    argument_list = <jsdl-hpcpa:Argument>300</jsdl-hpcpa:Argument>
    project = _pbs_project_default
    Submit_Host = pbshost

"""


def test_full_held():                                       # qstat_f_held.txt: no comment, no etime
    job = (JobBuilder(24, "held_one", pb.HELD).reason("JobHeldUser").submitted("2026-11-23 12:39:03")
           .command("-h -N held_one -- /bin/sleep 300", "/bin/sleep", "300").build())
    names = [name for name, _ in qf.full_attributes(job, NOW, CLUSTER)]
    attrs = dict(qf.full_attributes(job, NOW, CLUSTER))
    assert (attrs["Hold_Types"], attrs["job_state"], attrs["substate"]) == ("u", "H", "20")
    assert "comment" not in names and "etime" not in names
    assert names[names.index("Variable_List") + 1] == "Submit_arguments"


def test_wrapping_breaks_long_pieces():
    assert qf.wrap_attribute("comment", "x" * 80) == "    comment = " + "x" * 65 + "\n\t" + "x" * 15
    assert qf.wrap_attribute("depend", "a" * 60 + "," + "b" * 20) == "    depend = " + "a" * 60 + ",\n\t" + "b" * 20
    assert qf.wrap_attribute("depend", "a,,b") == "    depend = a,b"


def test_job_ids():
    job = JobBuilder(10, "arr").build()
    assert qf.job_id(job, CLUSTER) == "10.pbshost"
    job.spec.array.tasks = "1-3"
    assert qf.job_id(job, CLUSTER) == "10[].pbshost"
    task = JobBuilder(11, "arr").build()
    task.array_job_id, task.array_task_id = 10, 2
    assert qf.job_id(task, CLUSTER) == "10[2].pbshost"


# -- the commands around the formatter, with a stand-in for the server ---------------------

class FakeClient:
    def __init__(self, jobs: list[pb.Job]) -> None:
        self.jobs = {job.id: job for job in jobs}

    def get(self, ids):
        return [self.jobs[i] for i in ids if i in self.jobs], [i for i in ids if i not in self.jobs]

    def list(self, *, include_finished=False, **filters):
        return [j for j in self.jobs.values() if include_finished or j.state not in (pb.COMPLETED, pb.CANCELLED)]

    def cancel(self, ids):
        R = pb.JobActionResult
        return [R(job_id=i, code=R.UNKNOWN_JOB if i not in self.jobs else
                  R.FINISHED if self.jobs[i].state == pb.COMPLETED else R.OK) for i in ids]


class FakeConnection:
    def __init__(self, jobs: list[pb.Job]) -> None:
        self.client = FakeClient(jobs)
        self.cluster = CLUSTER


def finished_job() -> pb.Job:
    return JobBuilder(1, "STDIN", pb.COMPLETED).started("2026-11-23 12:37:00").ended("2026-11-23 12:37:01").build()


def test_qstat_unknown_and_finished_ids():                  # errors_and_exit_codes.txt: qstat 1 99999
    from hpcq.shims.pbs import qstat
    jobs, errors, code = qstat.select(qstat.parse(["1", "99999"]), FakeConnection([finished_job()]))
    assert jobs == []
    assert errors == ["qstat: 1.pbshost Job has finished, use -x or -H to obtain historical job information",
                      "qstat: Unknown Job Id 99999.pbshost"]
    assert code == 153
    assert qstat.select(qstat.parse(["1"]), FakeConnection([finished_job()]))[2] == 35
    jobs, errors, code = qstat.select(qstat.parse(["-x", "1.pbshost"]), FakeConnection([finished_job()]))
    assert [j.id for j in jobs] == [1] and errors == [] and code == 0


def test_qstat_options():
    from hpcq.shims.pbs import qstat
    assert qstat.parse(["-u", "pbsuser"]).alt and qstat.parse(["-u", "pbsuser"]).users == ["pbsuser"]
    assert not qstat.parse(["-x"]).alt and qstat.parse(["-f", "-x", "21"]).full
    q = qstat.parse(["-H"])
    assert q.alt and q.history and q.only_finished
    with pytest.raises(qstat.ShimError) as e:
        qstat.parse(["notajob!!"])
    assert (e.value.text, e.value.exit_code) == ("qstat: Unknown queue destination notajob!!", 170)
    with pytest.raises(qstat.ShimError) as e:
        qstat.parse(["-Z"])
    assert e.value.exit_code == 2 and e.value.text.startswith("qstat: invalid option -- 'Z'\nusage: \nqstat [-f]")


def test_qstat_lists_without_finished_jobs_unless_x():
    from hpcq.shims.pbs import qstat
    conn = FakeConnection(views() + [finished_job()])
    assert [j.id for j in qstat.select(qstat.parse([]), conn)[0]] == [21, 22, 23, 24]
    assert [j.id for j in qstat.select(qstat.parse(["-x"]), conn)[0]] == [1, 21, 22, 23, 24]
    assert [j.id for j in qstat.select(qstat.parse(["-i"]), conn)[0]] == [23, 24]
    assert [j.id for j in qstat.select(qstat.parse(["-r"]), conn)[0]] == [21, 22]


def test_qdel_reports():                                    # qdel.txt, errors_and_exit_codes.txt
    from hpcq.shims.pbs import qdel
    conn = FakeConnection(views() + [finished_job()])
    refs, history = qdel.parse(["99999", "22.pbshost"])
    assert [ref.job_id for ref in refs] == [99999, 22] and not history
    assert qdel.report(conn.client.cancel([99999, 22]), CLUSTER, history=False) == \
        (["qdel: Unknown Job Id 99999.pbshost"], 153)
    assert qdel.report(conn.client.cancel([1]), CLUSTER, history=False) == (["qdel: Job has finished 1.pbshost"], 35)
    assert qdel.report(conn.client.cancel([1]), CLUSTER, history=True) == ([], 0)
    denied = [pb.JobActionResult(job_id=21, code=pb.JobActionResult.NOT_PERMITTED)]
    assert qdel.report(denied, CLUSTER, history=False) == (["qdel: Unauthorized Request  21.pbshost"], 159)
    for argv, text in (([], qdel.USAGE), (["-Z", "1"], "qdel: invalid option -- 'Z'\n" + qdel.USAGE)):
        with pytest.raises(ShimError) as e:
            qdel.parse(argv)
        assert (e.value.text, e.value.exit_code) == (text, 2)
