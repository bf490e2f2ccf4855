"""scontrol's ``show`` listings as pure functions: jobs, nodes, partitions, config.

Each record is a list of ``Key=Value`` lines, printed as Slurm 22.05 prints them
(shared/compat/slurm/scontrol_show_*.txt): the first line flush, the others indented
by three spaces, a blank line after the record; with ``-o`` the lines joined by one
space on a single line (so a line's trailing space shows as two).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from hpcq import confinement, hostlist, slurmconf, states, units
from hpcq.api.lite import admin_pb2, jobs_pb2
from hpcq.shims.slurm import sinfo_format
from hpcq.shims.slurm import squeue_format as sq
from hpcq.shims.submit_context import user_ids
from hpcq.shims.values import compress_indices

S = jobs_pb2.JobState
Job = jobs_pb2.Job
Node = admin_pb2.Node
Queue = admin_pb2.Queue
N = admin_pb2.NodeState

SLURM_VERSION = "22.05.8"


def render(records: Sequence[list[str]], *, one_line: bool = False) -> str:
    """Records as scontrol prints them."""
    if one_line:
        return "".join(" ".join(lines) + "\n" for lines in records)
    return "".join(lines[0] + "\n" + "".join(f"   {line}\n" for line in lines[1:]) + "\n" for lines in records)


def duration(seconds: float) -> str:
    """secs2time_str(): ``00:00:02``, ``1-00:00:00``."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    text = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{days}-{text}" if days else text


def _iso(seconds: float, none: str = "Unknown") -> str:
    return sq.slurm_time(seconds) if seconds else none


def user_and_group(user: str) -> tuple[str, str]:
    """``root(0)``, ``root(0)``: names with their ids, as scontrol's UserId/GroupId."""
    uid, group, gid = user_ids(user)
    if uid is None:
        return f"{user}(4294967294)", "(null)(4294967294)"
    return f"{user}({uid})", f"{group}({gid})"


def _mem(mib: int) -> str:
    return units.format_slurm_size(mib) if mib else "0"


# -- jobs ---------------------------------------------------------------------------------

_WAITING_REASONS = frozenset({"Dependency", "DependencyNeverSatisfied"})


def _eligible(job: Job) -> str:
    # A task an array's throttle holds back is not eligible either (it accrues age, though).
    if job.state == S.HELD or job.reason in _WAITING_REASONS or job.reason == "JobArrayTaskLimit":
        return "Unknown"
    if job.state == S.WAITING:
        return _iso(job.spec.begin_time or job.eligible_time)
    if states.is_finished(job.state) and not job.start_time:
        return "Unknown"
    return _iso(job.eligible_time or job.submit_time)


def _accrue(job: Job) -> str:
    """When the job began to accrue age priority: once eligible and considered (not held,
    not before its begin time, not waiting on a dependency, not yet looked at)."""
    if job.state in (S.HELD, S.WAITING) or job.reason in _WAITING_REASONS \
            or (job.state == S.PENDING and job.reason in ("", "None")):
        return "Unknown"
    return _iso(job.eligible_time or job.submit_time)


def _start(job: Job) -> str:
    if sq.started(job):
        return _iso(job.start_time)
    if states.is_finished(job.state):
        return _iso(job.end_time)        # never ran: Slurm sets start = end
    if job.state == S.WAITING and (job.spec.begin_time or job.retry_time):
        return _iso(max(job.spec.begin_time, job.retry_time))
    return _iso(job.planned_start_time)


def _end(job: Job) -> str:
    if states.is_finished(job.state):
        return _iso(job.end_time)
    limit = sq.time_limit(job)
    if sq.started(job) and limit:
        return _iso(job.start_time + math.ceil(limit / 60) * 60)
    if job.state in states.QUEUED and job.planned_start_time and limit:
        # A job the scheduler has planned: its expected end, as Slurm's backfill sets it.
        return _iso(job.planned_start_time + math.ceil(limit / 60) * 60)
    return "Unknown"


def _tres(job: Job) -> str:
    cpus, nodes = sq.cpu_count(job), sq.node_count(job)
    if job.allocation.slices:
        mem = sum(piece.mem_mb for piece in job.allocation.slices)
        gpus = sum(piece.gpus for piece in job.allocation.slices)
    else:
        r = job.spec.resources
        mem = r.mem_per_node_mb * nodes if r.mem_per_node_mb else r.mem_per_cpu_mb * cpus
        gpus = r.gpus_per_node * nodes
    parts = [f"cpu={cpus}"] + ([f"mem={_mem(mem)}"] if mem else []) + [f"node={nodes}", f"billing={cpus}"]
    return ",".join(parts + ([f"gres/gpu={gpus}"] if gpus else []))


def _command(job: Job) -> str:
    command = job.spec.attributes.get("command", "")
    if not command:
        return "(null)"
    return " ".join([command, *job.spec.argv])


def _detail_lines(job: Job) -> list[str]:
    """-d: the CPUs and memory each node gives the job."""
    lines = ["JOB_GRES=(null)"]
    for piece in job.allocation.slices:
        ids = compress_indices(piece.cpu_ids) if piece.cpu_ids else "0"
        lines.append(f"  Nodes={piece.node} CPU_IDs={ids} Mem={piece.mem_mb} GRES=")
    return lines


def job_lines(job: Job, now: float, *, details: bool = False) -> list[str]:
    """``scontrol show job``'s lines for one job."""
    spec, r = job.spec, job.spec.resources
    user, group = user_and_group(job.user)
    nodes = sq.node_names(job)
    array = ""
    if job.HasField("array_task_id"):
        array = f" ArrayJobId={job.array_job_id or job.id} ArrayTaskId={job.array_task_id}"
    elif spec.array.tasks:
        pending = job.array_tasks_pending or spec.array.tasks
        limit = f"%{spec.array.max_running}" if spec.array.max_running else ""
        array = f" ArrayJobId={job.id} ArrayTaskId={pending}{limit}"
    if spec.array.max_running:
        array += f" ArrayTaskThrottle={spec.array.max_running}"
    limit = sq.time_limit(job)
    requeue = "0" if spec.HasField("requeue") and not spec.requeue else "1"
    mem_line = f"MinMemoryCPU={_mem(r.mem_per_cpu_mb)}" if r.mem_per_cpu_mb \
        else f"MinMemoryNode={_mem(r.mem_per_node_mb)}"
    licenses = ",".join(f"{name}:{count}" for name, count in sorted(r.licenses.items())) or "(null)"
    lines = [
        f"JobId={job.id}{array} JobName={spec.name}",
        f"UserId={user} GroupId={group} MCS_label=N/A",
        f"Priority={sq.priority(job)} Nice={spec.nice} Account={spec.account or '(null)'} "
        f"QOS={spec.attributes.get('qos', 'normal')}",
        f"JobState={states.slurm_name(job.state)} Reason={sq.reason(job)} Dependency={sq.dependency(job)}",
        f"Requeue={requeue} Restarts={max(0, job.attempt - 1)} BatchFlag=1 Reboot=0 ExitCode={sq.exit_code(job)}",
    ]
    if details:
        lines.append("DerivedExitCode=0:0")
    lines += [
        f"RunTime={duration(sq.time_used(job, now))} "
        f"TimeLimit={duration(math.ceil(limit / 60) * 60) if limit else 'UNLIMITED'} TimeMin=N/A",
        f"SubmitTime={_iso(job.submit_time)} EligibleTime={_eligible(job)}",
        f"AccrueTime={_accrue(job)}",
        f"StartTime={_start(job)} EndTime={_end(job)} Deadline=N/A",
        f"SuspendTime=None SecsPreSuspend=0 LastSchedEval={_iso(job.start_time or job.submit_time)} "
        f"Scheduler={'Backfill:*' if job.state in states.QUEUED and job.planned_start_time else 'Main'}",
        f"Partition={sq.partition(job)} AllocNode:Sid={spec.submit_host or 'localhost'}:0",
        f"ReqNodeList={spec.attributes.get('nodelist') or '(null)'} "
        f"ExcNodeList={hostlist.compress(r.exclude_nodes) or '(null)'}",
        f"NodeList={hostlist.compress(nodes)}",
    ]
    if nodes:
        lines.append(f"BatchHost={nodes[0]}")
    lines += [
        f"NumNodes={sq.node_count(job)} NumCPUs={sq.cpu_count(job)} NumTasks={sq.requested_tasks(r)} "
        f"CPUs/Task={r.cpus_per_task or 1} ReqB:S:C:T=0:0:*:*",
        f"TRES={_tres(job)}",
        f"Socks/Node=* NtasksPerN:B:S:C={r.tasks_per_node}:0:*:* CoreSpec=*",
    ]
    if details and nodes:
        lines += _detail_lines(job)
    lines += [
        f"MinCPUsNode={r.cpus_per_task or 1} {mem_line} MinTmpDiskNode=0",
        f"Features={'&'.join(r.features) or '(null)'} DelayBoot=00:00:00",
        f"OverSubscribe={'NO' if r.exclusive else 'OK'} Contiguous=0 Licenses={licenses} Network=(null)",
        f"Command={_command(job)}",
        f"WorkDir={spec.workdir or spec.submit_dir}",
    ]
    if spec.comment:
        lines.append(f"Comment={spec.comment} ")
    lines += [
        f"StdErr={sq.output_path(job, 'e')}",
        f"StdIn={spec.attributes.get('input') or '/dev/null'}",
        f"StdOut={sq.output_path(job, 'o')}",
        "Power=",
    ]
    if spec.mail_users or spec.mail_events:
        lines.append(f"MailUser={spec.mail_users or job.user} MailType={spec.mail_events or 'NONE'}")
    else:
        lines.append("")
    return lines


# -- nodes ---------------------------------------------------------------------------------

_NODE_STATES = {N.NODE_IDLE: "IDLE", N.NODE_MIXED: "MIXED", N.NODE_ALLOCATED: "ALLOCATED", N.NODE_DOWN: "DOWN",
                N.NODE_DRAINING: "MIXED+DRAIN", N.NODE_DRAINED: "IDLE+DRAIN"}


def node_state(node: Node) -> str:
    """``MIXED``, ``IDLE+DRAIN``; ``*`` after the state of a node that does not answer."""
    base, plus, flags = _NODE_STATES.get(node.state, "UNKNOWN").partition("+")
    return base + ("" if node.connected else "*") + plus + flags


def _arch(node: Node) -> str:
    words = node.hardware.os.split()
    return words[-1] if len(words) >= 3 else "(null)"


def _os(node: Node) -> str:
    words = node.hardware.os.split()
    return " ".join(words[:-1]) if len(words) >= 3 else (node.hardware.os or "(null)")


def node_lines(node: Node, queues: Sequence[Queue], *, version: str = SLURM_VERSION) -> list[str]:
    """``scontrol show node``'s lines for one node."""
    hw = node.hardware
    sct = sinfo_format.socket_core_thread(node).split(":")
    partitions = ",".join(q.name for q in queues if sinfo_format.member(q, node))
    cfg = f"cpu={hw.cpus},mem={_mem(hw.memory_mb)},billing={hw.cpus}" + (f",gres/gpu={len(hw.gpus)}" if hw.gpus else "")
    alloc = []
    if node.cpus_allocated:
        alloc.append(f"cpu={node.cpus_allocated}")
    if node.memory_allocated_mb:
        alloc.append(f"mem={_mem(node.memory_allocated_mb)}")
    if node.gpus_allocated:
        alloc.append(f"gres/gpu={node.gpus_allocated}")
    features = ",".join(hw.features) or "(null)"
    lines = [
        f"NodeName={node.name} Arch={_arch(node)} CoresPerSocket={sct[1]} ",
        f"CPUAlloc={node.cpus_allocated} CPUEfctv={hw.cpus} CPUTot={hw.cpus} CPULoad={node.load.load_1m:.2f}",
        f"AvailableFeatures={features}",
        f"ActiveFeatures={features}",
        f"Gres={f'gpu:{len(hw.gpus)}' if hw.gpus else '(null)'}",
        f"NodeAddr={node.name} NodeHostName={hw.hostname or node.name} Version={version}",
        f"OS={_os(node)} ",
        f"RealMemory={hw.memory_mb} AllocMem={node.memory_allocated_mb} FreeMem={node.load.free_memory_mb} "
        f"Sockets={sct[0]} Boards=1",
        f"State={node_state(node)} ThreadsPerCore={sct[2]} TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A",
        f"Partitions={partitions} ",
        f"BootTime={_iso(node.boot_time, 'None')} SlurmdStartTime={_iso(node.last_seen, 'None')}",
        f"LastBusyTime={_iso(node.last_seen, 'None')}",
        f"CfgTRES={cfg}",
        f"AllocTRES={','.join(alloc)}",
        "CapWatts=n/a",
        "CurrentWatts=0 AveWatts=0",
        "ExtSensorsJoules=n/s ExtSensorsWatts=0 ExtSensorsTemp=n/s",
    ]
    if node.reason:
        lines.insert(-5, f"Reason={node.reason}")
    if hw.enforcement:   # how the node confines jobs, where Slurm shows a node's comment
        lines.insert(-5, f"Comment=Enforcement={confinement.summary(hw.enforcement)}")
    return lines


# -- partitions ------------------------------------------------------------------------------

_PARTITION_STATES = {Queue.UP: "UP", Queue.DOWN: "DOWN", Queue.DRAIN: "DRAIN", Queue.INACTIVE: "INACTIVE"}


def _limit(seconds: int, none: str) -> str:
    return duration(seconds) if seconds else none


def partition_lines(queue: Queue, nodes: Sequence[Node]) -> list[str]:
    """``scontrol show partition``'s lines for one queue."""
    members = sinfo_format.members(queue, nodes)
    cpus = sum(n.hardware.cpus for n in members)
    mem = sum(n.hardware.memory_mb for n in members)
    groups = ",".join(queue.allowed_groups) or "ALL"
    defmem = f"DefMemPerCPU={queue.default_mem_per_cpu_mb}" if queue.default_mem_per_cpu_mb \
        else "DefMemPerNode=UNLIMITED"
    return [
        f"PartitionName={queue.name}",
        f"AllowGroups={groups} AllowAccounts=ALL AllowQos=ALL",
        f"AllocNodes=ALL Default={'YES' if queue.is_default else 'NO'} QoS=N/A",
        f"DefaultTime={_limit(queue.default_walltime_seconds, 'NONE')} DisableRootJobs=NO ExclusiveUser=NO "
        "GraceTime=0 Hidden=NO",
        f"MaxNodes=UNLIMITED MaxTime={_limit(queue.max_walltime_seconds, 'UNLIMITED')} MinNodes=0 LLN=NO "
        "MaxCPUsPerNode=UNLIMITED",
        f"Nodes={hostlist.compress(n.name for n in members) or '(null)'}",
        f"PriorityJobFactor=1 PriorityTier={queue.priority or 1} RootOnly=NO ReqResv=NO OverSubscribe=NO",
        "OverTimeLimit=NONE PreemptMode=OFF",
        f"State={_PARTITION_STATES.get(queue.state, 'UP')} TotalCPUs={cpus} TotalNodes={len(members)} "
        "SelectTypeParameters=NONE",
        "JobDefaults=(null)",
        f"{defmem} MaxMemPerNode=UNLIMITED",
        f"TRES=cpu={cpus},mem={_mem(mem)},node={len(members)},billing={cpus}",
    ]


# -- config ------------------------------------------------------------------------------------

def config_text(info: admin_pb2.ServerInfoResponse, now: float) -> str:
    """``scontrol show config``: every key of Slurm 22.05's, in its order: the value ctld
    applies (ServerInfoResponse.settings, the live facts of the response), else the value
    Slurm has when slurm.conf does not set the key (hpcq/slurmconf.py); then the
    controllers, as slurmctld lists itself and its backups."""
    settings = dict(info.settings)
    live = {"BOOT_TIME": _iso(info.start_time, "(null)"), "ClusterName": info.cluster,
            "MaxNodeCount": str(info.nodes), "NEXT_JOB_ID": str(info.next_job_id), "SLURM_VERSION": SLURM_VERSION}
    lines = []
    for key, default in slurmconf.CONFIG_KEYS:
        if key == "DefMemPerNode" and "DefMemPerCPU" in settings:
            key = "DefMemPerCPU"          # Slurm prints one or the other, in the same place
        value = settings.get(key) or live.get(key) or default or "(null)"
        lines.append(f"{key:<23} = {value}\n")
    lines.append(f"{'hpcq_version':<23} = {info.version or '(null)'}\n")
    host = settings.get("SlurmctldHost[0]", "localhost")
    controllers = [(c.role != "standby", c.address.rpartition(":")[0] or c.address) for c in info.controllers] \
        or [(True, host)]
    status = "".join(f"Slurmctld({'primary' if active else 'backup'}) at {name} is UP\n"
                     for active, name in controllers)
    return f"Configuration data as of {sq.slurm_time(now)}\n" + "".join(lines) + "\n" + status
