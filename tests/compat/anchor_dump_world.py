"""The jobs of the ``--json`` / ``--yaml`` captures (captured/slurm_anchor/, README.md there)
as hpcq records, at the moment of the capture: what hpcq would hold for the same
submissions, with the times, CPUs and exits the captures show.

    13 dp-done    --wrap true                       COMPLETED
    14 dp-fail    --wrap 'exit 3'                   FAILED 3
    15 dp-run     -t 30 --mem=100M, sleep           RUNNING
    16 dp-held    --hold -N1 -n2                    PENDING (JobHeldUser)
    17 dp-arr     --array=1-4%2 -t 5, sleep         tasks 1, 2 RUNNING (ids 20, 21); 3-4 PENDING (JobArrayTaskLimit)
    18 dp-cancel  sleep, scancel'd after 4 s        CANCELLED
    40 dp-steps   srun true; srun false; exit 2     FAILED 2, steps 0 COMPLETED and 1 FAILED

and, submitted at T1 for the second pair of captures (*_json_more.txt):

    43 dp-opts    --comment -c 2 --mem-per-cpu=50M --nice=10 --begin=now+3600 -t 10 -o out-%j.txt
                                                    PENDING (BeginTime)
    44 dp-dep     --dependency=afterok:15           PENDING (Dependency)
    45 dp-sig     kill -9 $$                        FAILED, killed by signal 9
"""
from __future__ import annotations

from hpcq.api import admin_pb2, jobs_pb2
from tests.compat.fake import FakeCluster

S = jobs_pb2.JobState
T0 = 1796513372                  # 2026-12-05T23:29:32Z: jobs 13-18 submitted
SQUEUE_AT = 1796513538           # squeue_json.txt, sinfo_json.txt
SACCT_AT = 1796513539            # sacct_json.txt
T1 = 1796513945                  # 23:39:05Z: jobs 43-45 submitted
SQUEUE_MORE_AT = 1796513948      # squeue_json_more.txt
SACCT_MORE_AT = 1796513949       # sacct_json_more.txt
CWD = "/tmp/dpcap"


def _job(job_id: int, name: str, state: int, *, cpu: int | None, submit: int = T0, start: int = T0 + 1,
         end: int = 0, prio: int = 0, limit: int = 0, mem: int = 0, tasks: int = 0) -> jobs_pb2.Job:
    job = jobs_pb2.Job(id=job_id, user="root", state=state, queue="batch", submit_time=submit, eligible_time=submit,
                       priority=prio, walltime_seconds=limit, attempt=1)
    spec = job.spec
    spec.dialect, spec.name, spec.account, spec.submit_dir = jobs_pb2.DIALECT_SLURM, name, "root", CWD
    spec.walltime_seconds, spec.resources.mem_per_node_mb, spec.resources.tasks = limit, mem, tasks
    if cpu is not None:
        job.start_time = start
        job.allocation.slices.add(node="vm", cpus=1, mem_mb=mem, cpu_ids=[cpu])
    if end:
        job.end_time = end
    return job


def world(now: float) -> FakeCluster:
    jobs = [
        _job(13, "dp-done", S.COMPLETED, cpu=0, end=T0 + 1, prio=4294901759),
        _job(14, "dp-fail", S.FAILED, cpu=1, end=T0 + 1, prio=4294901758),
        _job(15, "dp-run", S.RUNNING, cpu=2, prio=4294901757, limit=1800, mem=100),
        _job(16, "dp-held", S.HELD, cpu=None, prio=4294901760, tasks=2),
        _job(17, "dp-arr", S.PENDING, cpu=None, prio=4294901756, limit=300),
        _job(20, "dp-arr", S.RUNNING, cpu=3, prio=4294901756, limit=300),
        _job(21, "dp-arr", S.RUNNING, cpu=4, prio=4294901756, limit=300),
        _job(18, "dp-cancel", S.CANCELLED, cpu=5, end=T0 + 5, prio=4294901755),
        _job(40, "dp-steps", S.FAILED, cpu=0, submit=T0 + 156, start=T0 + 159, end=T0 + 159, prio=4294901736),
        _job(43, "dp-opts", S.WAITING, cpu=None, submit=T1, prio=4294901724, limit=600),
        _job(44, "dp-dep", S.PENDING, cpu=None, submit=T1, prio=4294901733),
        _job(45, "dp-sig", S.FAILED, cpu=3, submit=T1, start=T1 + 1, end=T1 + 1, prio=4294901732),
    ]
    by_id = {job.id: job for job in jobs}
    by_id[14].exit_code = 3
    by_id[40].exit_code = 2
    by_id[16].reason, by_id[16].spec.resources.nodes = "JobHeldUser", 1
    opts = by_id[43]
    opts.reason, opts.spec.comment, opts.spec.nice, opts.spec.begin_time = "BeginTime", "hello", 10, T1 + 3600
    opts.spec.resources.cpus_per_task, opts.spec.resources.mem_per_cpu_mb = 2, 50
    opts.spec.stdout_path = f"{CWD}/out-%j.txt"
    by_id[44].reason = "Dependency"
    by_id[44].spec.attributes["dependency"] = "afterok:15"
    by_id[44].spec.dependencies.add(kind=jobs_pb2.Dependency.AFTER_OK, job_ids=[15])
    by_id[45].signal = 9
    # CPU time of the batch steps (sacct's step time.user / time.system)
    for job_id, user, system in ((13, 0.001579, 0), (14, 0.001973, 0), (18, 0.00136, 0.001943),
                                 (40, 0.015791, 0.004213), (45, 0.000249, 0.001657)):
        by_id[job_id].user_cpu_seconds, by_id[job_id].system_cpu_seconds = user, system
    by_id[18].signal, by_id[18].cancelled_by = 15, "root"
    head = by_id[17]
    head.array_job_id, head.array_tasks_pending, head.reason = 17, "3-4", "JobArrayTaskLimit"
    head.spec.array.tasks, head.spec.array.max_running = "1-4", 2
    for task, index in ((by_id[20], 1), (by_id[21], 2)):
        task.array_job_id, task.array_task_id = 17, index
        task.spec.array.tasks, task.spec.array.max_running = "1-4", 2
        task.eligible_time = T0 + 1
    for step_id, name, state, code, cpu in ((0, "true", S.COMPLETED, 0, 0.001634), (1, "false", S.FAILED, 1, 0.001568)):
        by_id[40].steps.add(step_id=step_id, name=name, ntasks=1, cpus=1, nodes=["vm"], tasks_per_node=[1],
                            state=state, start_time=T0 + 159, end_time=T0 + 159, exit_code=code, attempt=1,
                            cpu_seconds=cpu)
    node = admin_pb2.Node(name="vm", state=admin_pb2.NODE_MIXED, connected=True, cpus_allocated=4,
                          boot_time=1796504115, last_seen=1796513347)
    node.hardware.hostname, node.hardware.cpus, node.hardware.physical_cores = "vm", 32, 32
    node.hardware.memory_mb, node.hardware.os = 24000, "Linux 6.18.44-fc-v1272 x86_64"
    node.load.load_1m, node.load.free_memory_mb = 0.61, 22358
    cluster = FakeCluster("anchor", user="root", role="admin", now=now, nodes=[node],
                          queues=[admin_pb2.Queue(name="batch", is_default=True, state=admin_pb2.Queue.UP, priority=1)])
    return cluster.add(*jobs)
