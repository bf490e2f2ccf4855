"""The OpenPBS capture session (server and node pbshost, queue workq, user pbsuser) as
hpcq records: the finished history jobs 0-20, the live jobs R1=21, R2=22, Q1=23, H1=24
of qstat_views.txt, and the jobs of the other sessions, with the facts the captures
show (names, resources, sessions, exit statuses).
"""
from __future__ import annotations

import calendar
import time

from hpcq.api import admin_pb2, jobs_pb2
from tests.compat.fake import FakeCluster

S = jobs_pb2.JobState
SERVER = "pbshost"
WORKDIR = "/scratch/pbswork/odd_cwd"
ENV = {"PBS_O_HOME": "/home/pbsuser", "PBS_O_LOGNAME": "pbsuser",
       "PBS_O_PATH": "/opt/pbs/bin:/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games:/opt/pbs/bin",
       "PBS_O_MAIL": "/var/mail/pbsuser", "PBS_O_SHELL": "/bin/bash", "PBS_O_INTERACTIVE_AUTH_METHOD": "resvport",
       "PBS_O_INTERACTIVE_ENCRYPT_METHOD": "", "PBS_O_WORKDIR": WORKDIR, "PBS_O_SYSTEM": "Linux",
       "PBS_O_QUEUE": "workq", "PBS_O_HOST": SERVER}


def t(clock: str) -> float:
    whole, _, frac = clock.partition(".")
    seconds = calendar.timegm(time.strptime("2026-11-23 " + whole, "%Y-%m-%d %H:%M:%S"))
    return seconds + float("0." + frac if frac else 0)


def job(job_id: int, name: str, state: int = S.PENDING, *, submit: str = "12:37:00", start: str = "",
        end: str = "", session: int = 0, cpu: int = 0, cpus: int = 1, walltime: int = 0, mem: int = 0,
        exit_code: int = 0, signal: int = 0, reason: str = "None", command: str = "", depend: str = "",
        rss_kb: int = 0) -> jobs_pb2.Job:
    """A PBS job as ctld records it; `command` is what followed ``qsub`` (its submit
    arguments), the executable and its arguments taken from after ``--``."""
    record = jobs_pb2.Job(id=job_id, user="pbsuser", state=state, queue="workq", attempt=1, reason=reason,
                          submit_time=t(submit), eligible_time=t(submit), walltime_seconds=walltime,
                          exit_code=exit_code, signal=signal, session_id=session, max_rss_kb=rss_kb)
    spec = record.spec
    spec.dialect, spec.name, spec.submit_host, spec.submit_dir = jobs_pb2.DIALECT_PBS, name, SERVER, WORKDIR
    spec.environment.update(ENV)
    spec.walltime_seconds = walltime
    spec.resources.mem_per_node_mb = mem
    spec.resources.cpus_per_task = cpus
    if command:
        spec.attributes["submit_arguments"] = command
        if " -- " in command:
            words = command.split(" -- ", 1)[1].split()
            spec.attributes["executable"] = words[0]
            if len(words) > 1:
                spec.attributes["argument_list"] = " ".join(words[1:])
    if depend:
        spec.attributes["depend"] = depend
    if start:
        record.start_time = t(start)
        record.allocation.slices.add(node=SERVER, cpus=cpus, mem_mb=mem, cpu_ids=list(range(cpu, cpu + cpus)))
    if end:
        record.end_time = t(end)
    if state == S.HELD:
        record.reason = "JobHeldUser"
    return record


def history() -> list[jobs_pb2.Job]:
    """Jobs 0-20, finished before qstat_views.txt (qstat -H there)."""
    done = dict(state=S.COMPLETED, start="12:37:30", end="12:37:31")
    jobs = [job(0, "STDIN", **done), job(1, "STDIN", **done), job(2, "envjob.sh", **done), job(3, "STDIN", **done),
            job(4, "myname", **done, cpus=2, mem=100, walltime=300),
            job(5, "outerr.sh", **done), job(6, "outerr.sh", **done), job(7, "outerr.sh", **done),
            job(8, "named", **done), job(9, "outerr.sh", **done, cpus=2)]
    array = job(10, "arr", S.COMPLETED, end="12:38:20")
    array.spec.array.tasks = "1-3"
    jobs.append(array)
    jobs += [job(11, "p_ok", S.COMPLETED, start="12:38:30", end="12:38:35", session=3825,
                 command="-N p_ok -- /bin/sleep 5"),
             job(12, "p_bad", S.FAILED, start="12:38:30", end="12:38:35", session=3882, exit_code=3, cpu=1,
                 command="-N p_bad fail3.sh"),
             job(13, "afterok_ok", **{**done, "start": "12:38:36", "end": "12:38:36"},
                 command="-N afterok_ok -W depend=afterok:11.pbshost -- /bin/true", depend="afterok:11.pbshost"),
             job(14, "afternotok_ok", S.CANCELLED, end="12:38:36", reason="DependencyNeverSatisfied",
                 command="-N afternotok_ok -W depend=afternotok:11.pbshost -- /bin/true",
                 depend="afternotok:11.pbshost"),
             job(15, "afterany_ok", **{**done, "start": "12:38:36", "end": "12:38:36"},
                 command="-N afterany_ok -W depend=afterany:11.pbshost -- /bin/true", depend="afterany:11.pbshost"),
             job(16, "afterok_bad", S.CANCELLED, end="12:38:36", reason="DependencyNeverSatisfied",
                 command="-N afterok_bad -W depend=afterok:12.pbshost -- /bin/true", depend="afterok:12.pbshost"),
             job(17, "afternotok_bad", **{**done, "start": "12:38:36", "end": "12:38:36"},
                 command="-N afternotok_bad -W depend=afternotok:12.pbshost -- /bin/true",
                 depend="afternotok:12.pbshost"),
             job(18, "afterany_bad", **{**done, "start": "12:38:36", "end": "12:38:36"},
                 command="-N afterany_bad -W depend=afterany:12.pbshost -- /bin/true", depend="afterany:12.pbshost"),
             job(19, "STDIN", S.CANCELLED, end="12:38:50"),
             job(20, "STDIN", **{**done, "start": "12:38:51", "end": "12:38:51"})]
    return jobs


def live() -> list[jobs_pb2.Job]:
    """R1, R2, Q1 and H1 of qstat_views.txt."""
    return [
        job(21, "run_one", S.RUNNING, submit="12:39:01", start="12:39:01", session=18440, walltime=600, mem=200,
            rss_kb=1312, command="-N run_one -l walltime=00:10:00 -l mem=200mb -- /bin/sleep 300"),
        job(22, "run_two", S.RUNNING, submit="12:39:01", start="12:39:02", session=18542, cpu=1,
            command="-N run_two -- /bin/sleep 300"),
        job(23, "queued_one", submit="12:39:03", walltime=3600, reason="Resources",
            command="-N queued_one -l walltime=01:00:00 -- /bin/sleep 300"),
        job(24, "held_one", S.HELD, submit="12:39:03", command="-h -N held_one -- /bin/sleep 300"),
    ]


def node(cpus_allocated: int, job_ids: list[int], mem_allocated: int = 0) -> admin_pb2.Node:
    n = admin_pb2.Node(name=SERVER, state=admin_pb2.NODE_ALLOCATED if cpus_allocated >= 2 else admin_pb2.NODE_MIXED,
                       connected=True, cpus_allocated=cpus_allocated, memory_allocated_mb=mem_allocated,
                       job_ids=job_ids, last_seen=t("12:39:01"), boot_time=t("11:00:00"))
    n.hardware.hostname, n.hardware.cpus, n.hardware.memory_mb = SERVER, 2, 24105
    n.hardware.os = "Linux 6.18.44-fc-v595 x86_64"
    return n


def pbshost(clock: str = "12:39:11", jobs: list[jobs_pb2.Job] | None = None) -> FakeCluster:
    """The server at qstat_views.txt's time: history, two running, one queued, one held."""
    world = FakeCluster(SERVER, user="pbsuser", role="user", now=t(clock), next_id=25,
                        nodes=[node(2, [21, 22], 200)],
                        queues=[admin_pb2.Queue(name="workq", is_default=True, state=admin_pb2.Queue.UP)])
    return world.add(*(history() + live() if jobs is None else jobs))
