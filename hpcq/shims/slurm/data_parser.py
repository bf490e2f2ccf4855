"""hpcq's jobs and nodes as the dicts Slurm 22.05 dumps for ``squeue --json``, ``sinfo
--json`` and ``sacct --json`` (and ``--yaml``): its openapi v0.0.38 (slurmctld) and
dbv0.0.38 (slurmdbd) parsers. One place maps hpcq records to those keys; serialize.py
writes the text.

Keys, their order and the type of every value follow captures of the real commands
(tests/compat/captured/slurm_json/): an integer Slurm has no value for is ``null``
(NO_VAL), a string it has none for is ``""`` (``null`` in YAML), a time is Unix
seconds (0: never), a time limit minutes. Fields hpcq has no notion of (federation,
burst buffers, cores per socket...) carry the value Slurm gives a job or node that
does not use them.
"""
from __future__ import annotations

import math
import signal as signals
from collections.abc import Iterable, Sequence

from hpcq import hostlist, states, units
from hpcq.api.lite import admin_pb2, jobs_pb2
from hpcq.shims.slurm import sacct_format, sinfo_format
from hpcq.shims.slurm import squeue_format as sq
from hpcq.shims.slurm.serialize import EMPTY
from hpcq.shims.submit_context import user_ids

S = jobs_pb2.JobState
N = admin_pb2.NodeState
Job = jobs_pb2.Job
Node = admin_pb2.Node
Queue = admin_pb2.Queue

TYPE_CHECKING = False
if TYPE_CHECKING:                  # typing is not imported on a command's path
    from typing import Any

    Dict = dict[str, Any]

SLURM_VERSION = {"major": 22, "micro": 8, "minor": 5}
RELEASE = "22.05.8"
SLURMD_PORT = 6818
SHOW_FLAGS = ["SHOW_ALL", "SHOW_DETAIL", "SHOW_LOCAL"]
# slurmdbd's TRES ids (tres_types_t): cpu 1, mem 2, energy 3, node 4, billing 5; gres/gpu
# is the first TRES added by configuration, 1001 on a fresh database.
TRES_IDS = {"cpu": 1, "mem": 2, "energy": 3, "node": 4, "billing": 5, "gres": 1001}


def document(key: str, items: list[Dict], *, database: bool = False) -> Dict:
    """The whole reply: ``meta`` (which parser, which Slurm), ``errors``, then the items."""
    plugin = {"type": "openapi/dbv0.0.38", "name": "Slurm OpenAPI DB v0.0.38"} if database \
        else {"type": "openapi/v0.0.38", "name": "Slurm OpenAPI v0.0.38"}
    return {"meta": {"plugin": plugin, "Slurm": {"version": dict(SLURM_VERSION), "release": RELEASE}},
            "errors": [], key: items}


# -- shared pieces ---------------------------------------------------------------------

def _seconds(value: float) -> int:
    return int(value) if value > 0 else 0


def _minutes(job: Job) -> int | None:
    """The time limit in minutes (Slurm rounds up); None: no limit (INFINITE)."""
    limit = sq.time_limit(job)
    return math.ceil(limit / 60) if limit else None


def _uid_gid(user: str) -> tuple[int, str, int]:
    uid, group, gid = user_ids(user)
    # NO_VAL - 1 (4294967294) as scontrol shows an owner this host does not know.
    return (4294967294 if uid is None else uid), group, (4294967294 if gid is None else gid)


def _memory(job: Job) -> tuple[int | None, int | None]:
    """(memory_per_node, memory_per_cpu) in MiB, each None where not asked for."""
    r = job.spec.resources
    if r.mem_per_cpu_mb:
        return None, r.mem_per_cpu_mb
    return (r.mem_per_node_mb or None), None


def _requested_mem(job: Job) -> int:
    r = job.spec.resources
    cpus, nodes = sq.cpu_count(job), sq.node_count(job)
    return r.mem_per_node_mb * nodes if r.mem_per_node_mb else r.mem_per_cpu_mb * cpus


def _tres_text(parts: Iterable[tuple[str, int]]) -> str:
    out = []
    for name, count in parts:
        out.append(f"{name}={units.format_slurm_size(count)}" if name == "mem" else f"{name}={count}")
    return ",".join(out)


def _requested(job: Job) -> list[tuple[str, int]]:
    cpus, nodes, mem = sq.cpu_count(job), sq.node_count(job), _requested_mem(job)
    gpus = job.spec.resources.gpus_per_node * nodes
    return [("cpu", cpus)] + ([("mem", mem)] if mem else []) + [("node", nodes), ("billing", cpus)] + \
        ([("gres/gpu", gpus)] if gpus else [])


def _allocated(job: Job) -> list[tuple[str, int]]:
    if not job.allocation.slices:
        return []
    cpus = sum(piece.cpus for piece in job.allocation.slices)
    mem = sum(piece.mem_mb for piece in job.allocation.slices)
    gpus = sum(piece.gpus for piece in job.allocation.slices)
    return [("cpu", cpus)] + ([("mem", mem)] if mem else []) + [("node", sq.node_count(job)), ("billing", cpus)] + \
        ([("gres/gpu", gpus)] if gpus else [])


def wait_status(job: Job) -> int:
    """The job's exit as waitpid(2) gives it, as slurmctld keeps it (exit 3 is 768)."""
    return job.signal & 0x7F if job.signal else (job.exit_code & 0xFF) << 8


def _step_status(step: jobs_pb2.JobStep) -> int:
    """A step's exit as a wait status: what Slurm's derived exit code is the highest of."""
    return step.signal & 0x7F if step.signal else (step.exit_code & 0xFF) << 8


def _array(job: Job) -> tuple[int, int | None, int, str]:
    """(array_job_id, array_task_id, array_max_tasks, array_task_string)."""
    throttle = job.spec.array.max_running
    if job.HasField("array_task_id"):
        return job.array_job_id or job.id, job.array_task_id, throttle, ""
    if job.spec.array.tasks:
        pending = job.array_tasks_pending
        return job.id, None, throttle, (f"{pending}%{throttle}" if throttle else pending) if pending else ""
    return 0, None, 0, ""


def _job_flags(job: Job) -> list[str]:
    if states.is_finished(job.state):
        return []
    running = job.state in (S.RUNNING, S.COMPLETING)
    return (["JOB_WAS_RUNNING"] if running else []) + \
        (["JOB_CPUS_SET"] if job.spec.resources.cpus_per_task and not running else []) + \
        (["JOB_MEM_SET"] if _requested_mem(job) else [])


def _kept(text: str) -> str:
    return text or EMPTY


# -- squeue --json ---------------------------------------------------------------------

def _job_resources(job: Job) -> Dict:
    slices = list(job.allocation.slices)
    nodes = sq.node_names(job)
    return {
        "nodes": hostlist.compress(nodes),
        "allocated_cores": sum(piece.cpus for piece in slices),
        "allocated_hosts": len(nodes),
        "allocated_nodes": [{
            "sockets": {"0": {"cores": {str(cpu): "allocated" for cpu in (piece.cpu_ids or range(piece.cpus))}}},
            "nodename": piece.node,
            "cpus_used": 0,
            "memory_used": 0,
            "memory_allocated": piece.mem_mb,
        } for piece in slices],
    }


def _eligible_time(job: Job) -> int:
    """0 while the job cannot start (held, waiting on a dependency or its throttle)."""
    if job.state == S.HELD or job.reason in ("Dependency", "DependencyNeverSatisfied", "JobArrayTaskLimit"):
        return 0
    if states.is_finished(job.state) and not sq.started(job):
        return 0
    if job.state == S.WAITING:
        return _seconds(job.spec.begin_time or job.eligible_time)
    return _seconds(job.eligible_time or job.submit_time)


def _accrue_time(job: Job) -> int:
    if job.state == S.WAITING:
        return _seconds(job.spec.begin_time or job.eligible_time)
    if job.state == S.HELD or job.reason in ("Dependency", "DependencyNeverSatisfied"):
        return 0
    return _seconds(job.eligible_time or job.submit_time)


def _end_time(job: Job) -> int:
    if states.is_finished(job.state):
        return _seconds(job.end_time)
    limit, start = _minutes(job), _start_time(job)
    if start and limit is not None and (sq.started(job) or job.state == S.WAITING):
        return start + limit * 60
    return 0


def _start_time(job: Job) -> int:
    if sq.started(job):
        return _seconds(job.start_time)
    if states.is_finished(job.state):
        return _seconds(job.end_time)
    if job.state == S.WAITING:
        return _seconds(max(job.spec.begin_time, job.retry_time))
    return _seconds(job.planned_start_time)


def squeue_job(job: Job, cluster: str) -> Dict:
    """One element of ``squeue --json``'s ``jobs``."""
    spec, r = job.spec, job.spec.resources
    uid, group, gid = _uid_gid(job.user)
    array_job_id, array_task_id, array_max, array_string = _array(job)
    nodes = sq.node_names(job)
    started = sq.started(job)
    per_node, per_cpu = _memory(job)
    dependency = sq.dependency(job)
    out: Dict = {
        "account": spec.account,
        "accrue_time": _accrue_time(job),
        "admin_comment": "",
        "array_job_id": array_job_id,
        "array_task_id": array_task_id,
        "array_max_tasks": array_max,
        "array_task_string": array_string,
        "association_id": 0,
        "batch_features": "",
        "batch_flag": not spec.allocation,
        "batch_host": nodes[0] if nodes else "",
        "flags": _job_flags(job),
        "burst_buffer": "",
        "burst_buffer_state": "",
        "cluster": cluster,
        "cluster_features": "",
        "command": " ".join([spec.attributes["command"], *spec.argv]) if spec.attributes.get("command") else "",
        "comment": spec.comment,
        "container": "",
        "contiguous": False,
        "core_spec": None,
        "thread_spec": None,
        "cores_per_socket": None,
        "billable_tres": float(sq.cpu_count(job)) if started else None,
        "cpus_per_task": None,        # 22.05 dumps NO_VAL here even with -c (minimum_cpus_per_node has it)
        "cpu_frequency_minimum": None,
        "cpu_frequency_maximum": None,
        "cpu_frequency_governor": None,
        "cpus_per_tres": "",
        "deadline": 0,
        "delay_boot": 0,
        "dependency": "" if dependency == "(null)" else dependency,
        "derived_exit_code": max((_step_status(step) for step in job.steps), default=0),
        "eligible_time": _eligible_time(job),
        "end_time": _end_time(job),
        "excluded_nodes": hostlist.compress(r.exclude_nodes),
        "exit_code": wait_status(job),
        "features": "&".join(r.features),
        "federation_origin": "",
        "federation_siblings_active": "",
        "federation_siblings_viable": "",
        "gres_detail": [],
        "group_id": gid,
        "group_name": group,
        "job_id": job.id,
    }
    if started and job.allocation.slices:
        out["job_resources"] = _job_resources(job)
    out.update({
        "job_state": states.slurm_name(job.state),
        "last_sched_evaluation": _seconds(job.start_time or job.submit_time),
        "licenses": ",".join(f"{name}:{count}" for name, count in sorted(r.licenses.items())),
        "max_cpus": 0,
        "max_nodes": r.nodes,
        "mcs_label": "",
        "memory_per_tres": "",
        "name": spec.name,
        "nodes": hostlist.compress(nodes),
        "nice": spec.nice or None,
        "tasks_per_core": None,
        "tasks_per_node": r.tasks_per_node,
        "tasks_per_socket": None,
        "tasks_per_board": 0,
        "cpus": sq.cpu_count(job),
        "node_count": sq.node_count(job),
        "tasks": sq.requested_tasks(r),
        "het_job_id": 0,
        "het_job_id_set": "",
        "het_job_offset": 0,
        "partition": sq.partition(job),
        "prefer": "",
        "memory_per_node": per_node,
        "memory_per_cpu": per_cpu,
        "minimum_cpus_per_node": r.cpus_per_task or 1,
        "minimum_tmp_disk_per_node": 0,
        "preempt_time": 0,
        "pre_sus_time": 0,
        "priority": sq.priority(job),
        "profile": None,
        "qos": spec.attributes.get("qos", "normal"),
        "reboot": False,
        "required_nodes": spec.attributes.get("nodelist", ""),
        "requeue": not (spec.HasField("requeue") and not spec.requeue),
        "resize_time": 0,
        "restart_cnt": max(0, job.attempt - 1),
        "resv_name": "",
        "shared": None,
        "show_flags": list(SHOW_FLAGS),
        "sockets_per_board": 0,
        "sockets_per_node": None,
        "start_time": _start_time(job),
        "state_description": "",
        "state_reason": sq.reason(job),
        "standard_error": spec.stderr_path,
        "standard_input": spec.attributes.get("input") or "/dev/null",
        "standard_output": spec.stdout_path,
        "submit_time": _seconds(job.submit_time),
        "suspend_time": 0,
        "system_comment": "",
        "time_limit": _minutes(job),
        "time_minimum": 0,
        "threads_per_core": None,
        "tres_bind": "",
        "tres_freq": "",
        "tres_per_job": "",
        "tres_per_node": f"gres:gpu:{r.gpus_per_node}" if r.gpus_per_node else "",
        "tres_per_socket": "",
        "tres_per_task": "",
        "tres_req_str": _tres_text(_requested(job)),
        "tres_alloc_str": _tres_text(_allocated(job)),
        "user_id": uid,
        "user_name": job.user,
        "wckey": spec.attributes.get("wckey", ""),
        "current_working_directory": spec.workdir or spec.submit_dir,
    })
    return out


# -- sinfo --json ----------------------------------------------------------------------

_NODE_STATES = {N.NODE_IDLE: ("idle", []), N.NODE_MIXED: ("mixed", []), N.NODE_ALLOCATED: ("allocated", []),
                N.NODE_DOWN: ("down", []), N.NODE_DRAINING: ("mixed", ["DRAIN"]), N.NODE_DRAINED: ("idle", ["DRAIN"])}


def sinfo_node(node: Node, queues: Sequence[Queue]) -> Dict:
    """One element of ``sinfo --json``'s ``nodes``."""
    hw = node.hardware
    sockets, cores, threads = (int(x) for x in sinfo_format.socket_core_thread(node).split(":"))
    state, flags = _NODE_STATES.get(node.state, ("unknown", []))
    if not node.connected:
        flags = [*flags, "NOT_RESPONDING"]
    words = hw.os.split()
    gpus = len(hw.gpus)
    used = [("cpu", node.cpus_allocated)] if node.cpus_allocated else []
    if node.memory_allocated_mb:
        used.append(("mem", node.memory_allocated_mb))
    if node.gpus_allocated:
        used.append(("gres/gpu", node.gpus_allocated))
    return {
        "architecture": words[-1] if len(words) >= 3 else "",
        "burstbuffer_network_address": "",
        "boards": 1,
        "boot_time": _seconds(node.boot_time),
        "comment": "",
        "cores": cores * sockets,
        "cpu_binding": 0,
        "cpu_load": int(node.load.load_1m * 100),
        "extra": "",
        "free_memory": node.load.free_memory_mb,
        "cpus": hw.cpus,
        "last_busy": _seconds(node.last_seen),
        "features": ",".join(hw.features),
        "active_features": ",".join(hw.features),
        "gres": f"gpu:{gpus}" if gpus else "",
        "gres_drained": "N/A",
        "gres_used": f"gpu:{node.gpus_allocated}" if gpus else "",
        "mcs_label": "",
        "name": node.name,
        "next_state_after_reboot": "invalid",
        "address": node.name,
        "hostname": hw.hostname or node.name,
        "state": state,
        "state_flags": flags,
        "next_state_after_reboot_flags": [],
        "operating_system": " ".join(words[:-1]) if len(words) >= 3 else hw.os,
        "owner": None,
        "partitions": [q.name for q in queues if sinfo_format.member(q, node)],
        "port": SLURMD_PORT,
        "real_memory": hw.memory_mb,
        "reason": node.reason,
        "reason_changed_at": 0,
        "reason_set_by_user": None,
        "slurmd_start_time": _seconds(node.last_seen),
        "sockets": sockets,
        "threads": threads,
        "temporary_disk": 0,
        "weight": 1,
        "tres": _tres_text([("cpu", hw.cpus), ("mem", hw.memory_mb), ("billing", hw.cpus)]
                           + ([("gres/gpu", gpus)] if gpus else [])),
        "slurmd_version": RELEASE,
        "alloc_memory": node.memory_allocated_mb,
        "alloc_cpus": node.cpus_allocated,
        "idle_cpus": max(0, hw.cpus - node.cpus_allocated),
        "tres_used": _tres_text(used),
        "tres_weighted": float(node.cpus_allocated),
    }


# -- sacct --json ----------------------------------------------------------------------

def _exit(code: int, signal: int) -> Dict:
    """slurmdbd's exit code object: SUCCESS, FAILED with the status, or SIGNALED with the signal."""
    if signal:
        try:
            name = signals.strsignal(signal) or ""
        except ValueError:
            name = ""
        return {"status": "SIGNALED", "return_code": None, "signal": {"signal_id": signal, "name": name}}
    if code:
        return {"status": "FAILED", "return_code": code}
    return {"status": "SUCCESS", "return_code": 0}


def _derived(job: Job) -> Dict:
    """The highest exit of the job's srun steps, as slurmdbd's derived exit code."""
    worst = max(job.steps, key=_step_status, default=None)
    return _exit(worst.exit_code, worst.signal) if worst is not None else _exit(0, 0)


def _tres_list(parts: Iterable[tuple[str, int | None]]) -> list[Dict]:
    out = []
    for name, count in parts:
        kind, _, sub = name.partition("/")
        out.append({"type": kind, "name": sub or None, "id": TRES_IDS.get(kind, 0), "count": count})
    return out


def _cpu_time(seconds: float) -> Dict:
    whole = int(seconds)
    return {"seconds": whole, "microseconds": round((seconds - whole) * 1_000_000)}


def _array_bitmap(indices: str) -> str | None:
    """slurmdbd's ``array.task``: the pending tasks as a hex bitmap (3 and 4: ``0x18``)."""
    if not indices:
        return None
    value = 0
    for index in _indices(indices):
        value |= 1 << index
    return f"0x{value:X}"


def _indices(text: str) -> list[int]:
    out: list[int] = []
    for item in text.split(","):
        span, _, step = item.partition(":")
        first, _, last = span.partition("-")
        out.extend(range(int(first), int(last or first) + 1, int(step or 1)))
    return out


def _sacct_array(job: Job) -> Dict:
    array_job_id, task_id, throttle, _ = _array(job)
    pending = job.array_tasks_pending if task_id is None and array_job_id else ""
    return {"job_id": array_job_id, "limits": {"max": {"running": {"tasks": throttle if pending else 0}}},
            "task": _array_bitmap(pending), "task_id": task_id}


def _batch_step(job: Job, now: float) -> Dict:
    step_state = sacct_format.state(sacct_format.Row(job, "batch"))
    return _step(job, "batch", "batch", step_state, job.start_time, job.end_time if states.is_finished(job.state)
                 else 0, sq.node_names(job)[:1], 1, sq.cpu_count(job) if len(sq.node_names(job)) == 1 else
                 (job.allocation.slices[0].cpus if job.allocation.slices else 0),
                 _exit(job.exit_code, job.signal), job.user_cpu_seconds or job.cpu_seconds, job.system_cpu_seconds,
                 "Unknown", now)


# The CPU governors of a step srun launched: every one Slurm knows (cpu_freq_govs all set).
_SRUN_GOVERNORS = ["Conservative", "Performance", "PowerSave", "OnDemand", "UserSpace"]


def _step(job: Job, step_id: int | str, name: str, state: str, start: float, end: float, nodes: list[str],
          tasks: int, cpus: int, exit_code: Dict, user_cpu: float, system_cpu: float, distribution: str,
          now: float) -> Dict:
    ran_until = end or now
    # Once a step ends slurmdbd has its (energy) usage: zero where nothing measures it.
    used = _tres_list([("energy", 0)]) if end else []
    batch = step_id == "batch"
    return {
        "nodes": {"list": nodes, "count": len(nodes), "range": hostlist.compress(nodes)},
        "tres": {
            "requested": {"max": [], "min": [], "average": list(used), "total": list(used)},
            "consumed": {"max": [], "min": [], "average": list(used), "total": list(used)},
            "allocated": _tres_list([("cpu", cpus), ("mem", 0), ("node", len(nodes))]),
        },
        "time": {
            "elapsed": _seconds(ran_until - start) if start else 0,
            "end": _seconds(end),
            "start": _seconds(start),
            "suspended": 0,
            "system": _cpu_time(system_cpu),
            "total": _cpu_time(user_cpu + system_cpu),
            "user": _cpu_time(user_cpu),
        },
        "exit_code": exit_code,
        "tasks": {"count": tasks},
        "pid": None,
        "CPU": {"requested_frequency": {"min": 0 if batch else None, "max": 0 if batch else None},
                "governor": [] if batch else list(_SRUN_GOVERNORS)},
        "kill_request_user": None,
        "state": state,
        "statistics": {"CPU": {"actual_frequency": 0}, "energy": {"consumed": 0}},
        "step": {"job_id": job.id, "het": {"component": None}, "id": step_id, "name": name},
        "task": {"distribution": distribution},
    }


def _srun_steps(job: Job, now: float) -> list[Dict]:
    out = []
    for step in job.steps:
        if step.attempt and step.attempt != job.attempt:
            continue
        out.append(_step(job, step.step_id, step.name, states.slurm_name(step.state), step.start_time,
                         step.end_time, list(step.nodes), step.ntasks, step.cpus,
                         _exit(step.exit_code, step.signal), step.cpu_seconds, 0.0, "Cyclic", now))
    return out


def sacct_job(job: Job, cluster: str, now: float, *, with_steps: bool = True) -> Dict:
    """One element of ``sacct --json``'s ``jobs``: the job with its steps (none with -X)."""
    spec = job.spec
    _, group, _ = _uid_gid(job.user)
    ran = sacct_format.ran(job)
    nodes = sq.node_names(job)
    per_node, per_cpu = _memory(job)
    allocated = _allocated(job)
    # slurmdbd lists energy, uncounted, in the allocation of a job that ran no srun step.
    energy: list[tuple[str, int | None]] = [] if job.steps else [("energy", None)]
    allocated_tres = [(n, c) for n, c in allocated if n in ("cpu", "mem")] + energy + \
        [(n, c) for n, c in allocated if n not in ("cpu", "mem")]
    steps = (([_batch_step(job, now)] if ran else []) + _srun_steps(job, now)) if with_steps else []
    killed_by = job.cancelled_by if job.state == S.CANCELLED and job.cancelled_by else None
    return {
        "account": spec.account,
        # slurmdbd stores no job comment unless AccountingStoreFlags=job_comment (not the default).
        "comment": {"administrator": None, "job": None, "system": None},
        "allocation_nodes": len(nodes) if ran else 0,
        "array": _sacct_array(job),
        "association": {"account": spec.account, "cluster": cluster, "partition": None, "user": job.user},
        "cluster": cluster,
        "constraints": _kept("&".join(spec.resources.features)),
        "container": None,
        "derived_exit_code": _derived(job),
        "time": {
            "elapsed": int(sacct_format.elapsed(job, now)),
            # slurmdbd has no eligible time for the pending rest of an array (its record is a template).
            "eligible": None if job.array_tasks_pending and job.state in states.QUEUED else _eligible_time(job),
            "end": _seconds(job.end_time) if states.is_finished(job.state) else 0,
            "start": _seconds(job.start_time) if ran else 0,
            "submission": _seconds(job.submit_time),
            "suspended": 0,
            "system": _cpu_time(job.system_cpu_seconds),
            "limit": _minutes(job),
            "total": _cpu_time(job.user_cpu_seconds + job.system_cpu_seconds or job.cpu_seconds),
            "user": _cpu_time(job.user_cpu_seconds or job.cpu_seconds),
        },
        # A cancelled job's record keeps its exit status only (sacct's 0:15 takes the signal
        # from the state); its batch step was signalled.
        "exit_code": _exit(job.exit_code, 0 if job.state == S.CANCELLED else job.signal),
        "flags": ["CLEAR_SCHEDULING", "STARTED_ON_SCHEDULE"] if ran else [],
        "group": group,
        "het": {"job_id": 0, "job_offset": None},
        "job_id": job.id,
        "name": spec.name,
        "mcs": {"label": EMPTY},
        "nodes": hostlist.compress(nodes) if nodes else "None assigned",
        "partition": sq.partition(job),
        "priority": sq.priority(job),
        "qos": spec.attributes.get("qos", "normal"),
        "required": {"CPUs": sq.cpu_count(job), "memory": per_cpu or per_node or 0},
        "kill_request_user": killed_by,
        "reservation": {"id": 0, "name": 0},
        # slurmdbd keeps the reason of a job waiting for the scheduler, not of a hold.
        "state": {"current": states.slurm_name(job.state),
                  "reason": sq.reason(job) if job.state in (S.PENDING, S.WAITING) else "None"},
        "steps": steps,
        "tres": {"allocated": _tres_list(allocated_tres) if ran else [], "requested": _tres_list(_requested(job))},
        "user": job.user,
        "wckey": {"wckey": _kept(spec.attributes.get("wckey", "")), "flags": []},
        "working_directory": spec.workdir or spec.submit_dir,
    }
