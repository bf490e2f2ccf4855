"""PBS's view of job arrays: ``10[]``, the array, and ``10[1]``..., its subjobs.

ctld keeps an array as Slurm does (hpcq/shims/arrays.py): the array's own record holds
the tasks not started yet, each started task has a record of its own, and the last task
to start runs as the array's record. PBS shows the array as a job of its own whatever
its tasks do: queued (Q) until a subjob starts, begun (B) while any remains, finished
(F) when all have ended. qstat shows the arrays alone, with ``-t`` their subjobs after
each, with ``-J`` arrays (and with ``-Jt`` subjobs) only.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from hpcq import states
from hpcq.api.lite.jobs_pb2 import Job, JobState
from hpcq.shims import arrays, values

S = JobState


def is_array(job: Job) -> bool:
    """The array itself (``10[]``), not one of its subjobs."""
    return bool(job.spec.array.tasks) and not job.HasField("array_task_id")


def is_member(job: Job) -> bool:
    return bool(job.spec.array.tasks) and bool(job.array_job_id)


def subjobs(members: Sequence[Job]) -> list[Job]:
    """The subjobs of one array, by index: those started, then those not yet."""
    found = [m for m in members if m.HasField("array_task_id")]
    for m in members:
        if m.id == m.array_job_id and not m.HasField("array_task_id"):
            found += arrays.pending_tasks(m)
    return sorted(found, key=lambda j: j.array_task_id)


def array(members: Sequence[Job]) -> Job:
    """The array as PBS shows it, made from its records; the counts qstat -f shows go in
    its attributes."""
    head = next(m for m in members if m.id == m.array_job_id)
    parent = Job()
    parent.CopyFrom(head)
    for name in ("array_task_id", "allocation"):
        parent.ClearField(name)
    parent.session_id = parent.cpu_seconds = parent.max_rss_kb = parent.exit_code = parent.signal = 0
    tasks = subjobs(members)
    ran = [t for t in tasks if t.start_time and t.state not in states.QUEUED]
    pending = [t for t in tasks if t.state in states.QUEUED]
    parent.start_time = min((t.start_time for t in ran), default=0.0)
    if not ran:
        parent.state = head.state
    elif all(states.is_finished(t.state) for t in tasks):
        parent.state = S.COMPLETED
        parent.end_time = max(t.end_time for t in tasks)
    else:
        parent.state, parent.reason = S.RUNNING, "None"
    running = sum(t.state in (S.RUNNING, S.COMPLETING) for t in tasks)
    expired = sum(states.is_finished(t.state) for t in tasks)
    attributes = parent.spec.attributes
    attributes["array_state_count"] = f"Queued:{len(pending)} Running:{running} Exiting:0 Expired:{expired}"
    attributes["array_indices_remaining"] = values.compress_indices(t.array_task_id for t in pending) or "-"
    return parent


def view(records: Iterable[Job], *, subjobs_too: bool, arrays_only: bool) -> list[Job]:
    """What qstat lists: each array once (its subjobs after it with -t), other jobs as
    they are; -J keeps arrays only, and with -t their subjobs only."""
    out: list[Job] = []
    groups: dict[int, list[Job]] = {}
    for job in records:
        if is_member(job):
            if job.array_job_id not in groups:
                out.append(job)          # the array's place in the listing
            groups.setdefault(job.array_job_id, []).append(job)
        elif not arrays_only:
            out.append(job)
    shown: list[Job] = []
    for job in out:
        if not is_member(job):
            shown.append(job)
            continue
        members = groups[job.array_job_id]
        if not any(m.id == m.array_job_id for m in members):
            continue                     # the array's own record is not among them
        if not (arrays_only and subjobs_too):
            shown.append(array(members))
        if subjobs_too:
            shown += subjobs(members)
    return shown
