"""The Slurm capture session (cluster anchor, node vm, partition batch, user root) as
hpcq records: each job's life — submitted, waiting for what, started, ended how — from
the captures themselves (scontrol and sacct show the times), evaluated at the moment a
capture was taken. Where a capture does not tell (priorities of jobs never shown), the
values follow Slurm's priority/basic: later jobs a little lower.
"""
from __future__ import annotations

import calendar
import time
from dataclasses import dataclass, field

from hpcq.api import admin_pb2, jobs_pb2
from tests.compat.fake import FakeCluster

S = jobs_pb2.JobState
CWD = "/scratch/anchor/work/deep/cwd dir"
DAY = "2026-11-23T"


def t(clock: str) -> float:
    """Unix seconds of a time of the capture day (UTC): ``13:08:07`` or ``13:08:09.5``."""
    whole, _, frac = clock.partition(".")
    return calendar.timegm(time.strptime(DAY + whole, "%Y-%m-%dT%H:%M:%S")) + float("0." + frac if frac else 0)


@dataclass
class Life:
    """A job's record over time."""
    id: int
    name: str
    submit: str
    prio: int
    waits: list[tuple[str, int, str]] = field(default_factory=list)   # (from, state, reason) while queued
    start: str = ""
    end: str = ""
    final: int = S.COMPLETED
    exit_code: int = 0
    signal: int = 0
    cancelled_by: str = ""
    limit: int = 0
    nodes: int = 1
    tasks: int = 0
    tasks_per_node: int = 0
    mem: int = 0
    begin: str = ""
    command: str = ""
    argv: tuple[str, ...] = ()
    comment: str = ""
    workdir: str = ""
    output: str = ""                   # sbatch -o
    dependency: str = ""
    cpu: int = 0                       # the CPU id it runs on
    array: tuple[int, int] | None = None    # (array job id, task) of an array task
    array_of: tuple[str, int] = ("", 0)     # (tasks, throttle) the array was submitted with
    array_rest: tuple[str, str, int] | None = None  # (tasks, pending tasks, throttle) of an array's record
    rest_pending: list[tuple[str, str]] = field(default_factory=list)      # (from, pending tasks)

    def at(self, now: float) -> jobs_pb2.Job | None:
        if t(self.submit) > now or (self.array and self.array[0] != self.id and t(self.start) > now):
            return None           # an array task has a record of its own once it starts
        job = jobs_pb2.Job(id=self.id, user="root", queue="batch", priority=self.prio, submit_time=t(self.submit),
                           eligible_time=t(self.begin or self.submit), attempt=1, walltime_seconds=self.limit)
        spec = job.spec
        spec.dialect, spec.name, spec.account, spec.submit_dir = jobs_pb2.DIALECT_SLURM, self.name, "root", CWD
        spec.submit_host = "localhost"
        spec.walltime_seconds = self.limit
        spec.resources.nodes, spec.resources.tasks = self.nodes, self.tasks
        spec.resources.tasks_per_node = self.tasks_per_node
        spec.resources.mem_per_node_mb = self.mem
        spec.argv.extend(self.argv)
        spec.comment, spec.workdir, spec.stdout_path = self.comment, self.workdir, self.output
        if self.command:
            spec.attributes["command"] = self.command
        if self.begin:
            spec.begin_time = t(self.begin)
        if self.dependency:
            kind, _, ids = self.dependency.partition(":")
            spec.attributes["dependency"] = self.dependency
            spec.dependencies.add(kind=jobs_pb2.Dependency.Kind.Value(_KINDS[kind]), job_ids=[int(ids)])
        if self.array:
            job.array_job_id, job.array_task_id = self.array
            spec.array.tasks, spec.array.max_running = self.array_of
        if self.array_rest:
            spec.array.tasks, pending, spec.array.max_running = self.array_rest
            job.array_job_id = self.id
            job.array_tasks_pending = pending
            for since, rest in self.rest_pending:
                if t(since) <= now:
                    job.array_tasks_pending = rest
        if self.end and t(self.end) <= now:
            job.state, job.end_time = self.final, t(self.end)
            job.exit_code, job.signal, job.cancelled_by = self.exit_code, self.signal, self.cancelled_by
            job.reason = "None"
            if self.start:
                self._run(job)
        elif self.start and t(self.start) <= now:
            job.state = S.RUNNING
            job.reason = "None"
            self._run(job)
        else:
            job.state, job.reason = S.PENDING, "None"
            for since, state, reason in self.waits:
                if t(since) <= now:
                    job.state, job.reason = state, reason
        return job

    def _run(self, job: jobs_pb2.Job) -> None:
        job.start_time = t(self.start)
        cpus = (self.tasks or 1)
        job.allocation.slices.add(node="vm", cpus=cpus, mem_mb=self.mem, cpu_ids=list(range(self.cpu, self.cpu + cpus)))


_KINDS = {"afterok": "AFTER_OK", "afternotok": "AFTER_NOT_OK", "afterany": "AFTER_ANY", "after": "AFTER"}
P, H, W = S.PENDING, S.HELD, S.WAITING
DEP, NEVER = "Dependency", "DependencyNeverSatisfied"
A1, A2 = "arr_%A_%a.out", "arr2_%A_%a.out"        # the arrays' -o

LIVES = [
    Life(11239, "aa86acc9-590f-487f-b3db-d85154b8b03e.job", "13:06:25", 4294892889,
         [("13:06:25", P, "PartitionNodeLimit")], limit=600, nodes=2, tasks=4, tasks_per_node=2,
         command="/root/.psij/work/slurm/aa86acc9-590f-487f-b3db-d85154b8b03e.job", workdir="/tmp/psij-suite"),
    Life(11243, "myname", "13:07:36", 4294892885, start="13:07:39", end="13:07:39", limit=300, tasks=2, mem=100,
         command=f"{CWD}/envjob.sh", argv=("arg1", "arg two"), comment="from-directive"),
    Life(11251, "arr2.sh", "13:07:50", 4294892880, [("13:07:51", P, "JobArrayTaskLimit"),
                                                  ("13:08:00", P, "Resources"),
                                                  ("13:08:02", P, "JobArrayTaskLimit")],
         command=f"{CWD}/arr2.sh", output=A2, array_rest=("1-10", "3-10", 2),
         rest_pending=[("13:07:58", "5-10"), ("13:08:06", "7-10"), ("13:08:08", "9-10")]),
    Life(11247, "arr.sh", "13:07:45", 4294892883, start="13:07:48", end="13:07:48", array=(11247, 3),
         command=f"{CWD}/arr.sh", output=A1, array_rest=("1-3", "", 0)),
    Life(11249, "arr.sh", "13:07:45", 4294892882, start="13:07:48", end="13:07:48", array=(11247, 1),
         command=f"{CWD}/arr.sh", output=A1, array_of=("1-3", 0)),
    Life(11250, "arr.sh", "13:07:45", 4294892881, start="13:07:48", end="13:07:48", array=(11247, 2),
         command=f"{CWD}/arr.sh", output=A1, array_of=("1-3", 0), cpu=1),
    Life(11252, "arr2.sh", "13:07:50", 4294892880, start="13:07:51", end="13:07:59", array=(11251, 1),
         command=f"{CWD}/arr2.sh", output=A2, array_of=("1-10", 2)),
    Life(11253, "arr2.sh", "13:07:50", 4294892880, start="13:07:51", end="13:07:59", array=(11251, 2),
         command=f"{CWD}/arr2.sh", output=A2, array_of=("1-10", 2), cpu=1),
    Life(11261, "arr2.sh", "13:07:50", 4294892880, start="13:08:08", end="13:08:30", array=(11251, 7),
         command=f"{CWD}/arr2.sh", output=A2, array_of=("1-10", 2), cpu=2),
    Life(11262, "arr2.sh", "13:07:50", 4294892880, start="13:08:08", end="13:08:30", array=(11251, 8),
         command=f"{CWD}/arr2.sh", output=A2, array_of=("1-10", 2), cpu=3),
    Life(11254, "dep_parent_fail", "13:07:52.5", 4294892879, start="13:07:53", end="13:08:00", final=S.FAILED,
         exit_code=1, cpu=2),
    Life(11255, "dep_afterok", "13:07:52.5", 4294892878, [("13:07:52", P, DEP), ("13:08:00", P, NEVER)],
         end="13:08:03", final=S.CANCELLED, cancelled_by="root", dependency="afterok:11254"),
    Life(11256, "dep_afternotok", "13:07:52.5", 4294892877, [("13:07:52", P, DEP)], start="13:08:01",
         end="13:08:01", dependency="afternotok:11254"),
    Life(11257, "dep_afterany", "13:07:52.5", 4294892876, [("13:07:52", P, DEP)], start="13:08:01", end="13:08:01",
         dependency="afterany:11254"),
    Life(11258, "dep_after", "13:07:52.5", 4294892875, [("13:07:52", P, DEP)], start="13:07:55", end="13:07:55",
         dependency="after:11254"),
    Life(11259, "dep_okparent", "13:07:52.5", 4294892874, start="13:07:53", end="13:07:58", cpu=3),
    Life(11260, "dep_afterok_ok", "13:07:52.5", 4294892873, [("13:07:52", P, DEP)], start="13:07:59",
         end="13:07:59", dependency="afterok:11259"),
    Life(11263, "wrap", "13:08:01.5", 4294892872, start="13:08:02", end="13:08:02"),
    Life(11267, "running", "13:08:03", 4294892871, start="13:08:05", end="13:08:09.6", final=S.CANCELLED,
         signal=15, cancelled_by="root", cpu=2),
    Life(11268, "pend_res", "13:08:05", 4294892870, [("13:08:05", P, "None"), ("13:08:08", P, "Resources"),
                                                    ("13:08:09.1", H, "JobHeldAdmin"),
                                                    ("13:08:09.3", P, "None")],
         end="13:08:09.5", final=S.CANCELLED, cancelled_by="root", tasks=32),
    Life(11269, "held", "13:08:05", 4294892868, [("13:08:05", H, "JobHeldUser"), ("13:08:08.5", P, "None")],
         start="13:08:30", end="13:08:30"),
    Life(11270, "begin30", "13:08:05", 4294892869, [("13:08:05", W, "BeginTime")], begin="13:08:35",
         start="13:08:44", end="13:08:44"),
    Life(11274, "exit3", "13:08:44", 4294892866, start="13:08:45", end="13:08:45", final=S.FAILED, exit_code=3),
    Life(11275, "killsig", "13:08:44", 4294892865, start="13:08:45", end="13:08:45", final=S.FAILED, signal=9),
    Life(11276, "tlimit", "13:08:44", 4294892864, start="13:08:45", end="13:10:05", final=S.TIMEOUT, signal=15,
         limit=5),
]


def node(cpus_allocated: int = 1) -> admin_pb2.Node:
    n = admin_pb2.Node(name="vm", state=admin_pb2.NODE_MIXED, connected=True, cpus_allocated=cpus_allocated,
                       boot_time=t("11:45:36"), last_seen=t("13:08:00"))
    n.hardware.hostname, n.hardware.cpus, n.hardware.physical_cores = "vm", 32, 32
    n.hardware.memory_mb, n.hardware.os = 24000, "Linux 6.18.44-fc-v595 x86_64"
    n.load.load_1m, n.load.free_memory_mb = 0.14, 23505
    return n


def anchor(clock: str) -> FakeCluster:
    """The cluster as it was at this time of the capture."""
    now = t(clock)
    world = FakeCluster("anchor", user="root", role="admin", now=now, nodes=[node()],
                        queues=[admin_pb2.Queue(name="batch", is_default=True, state=admin_pb2.Queue.UP, priority=1)])
    for life in LIVES:
        job = life.at(now)
        if job is not None:
            world.add(job)
    return world
