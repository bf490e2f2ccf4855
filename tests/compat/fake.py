"""A stand-in for ctld behind hpcq.client.Client: the records of a scenario, and the rules
ctld applies to them (hpcq/ctld/controller.py and its rooms, server.py) for the calls the shims make.

`run()` runs a shim's ``main(argv)`` against it as the command would run, with the
scenario's clock, and returns what the command printed and its exit code.
"""
from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from hpcq import states
from hpcq.api import admin_pb2, jobs_pb2
from hpcq.ctld import jobs as jobrules
from hpcq.errors import HpcqError
from hpcq.shims import clock, connection, submit_context

R = jobs_pb2.JobActionResult
S = jobs_pb2.JobState


@dataclass
class FakeCluster:
    cluster: str
    jobs: dict[int, jobs_pb2.Job] = field(default_factory=dict)
    nodes: list[admin_pb2.Node] = field(default_factory=list)
    queues: list[admin_pb2.Queue] = field(default_factory=list)
    user: str = "root"
    role: str = "user"
    now: float = 0.0
    next_id: int = 1
    submit_error: HpcqError | None = None          # what ctld would refuse the next submit with
    submitted: list[jobs_pb2.JobSpec] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)   # ServerInfoResponse.settings

    def add(self, *jobs: jobs_pb2.Job) -> FakeCluster:
        for job in jobs:
            self.jobs[job.id] = job
        return self

    def client(self, on_retry: object = None) -> FakeClient:
        return FakeClient(self)


class FakeClient:
    """hpcq.client.Client's surface, answered from a FakeCluster."""

    def __init__(self, world: FakeCluster) -> None:
        self.world = world
        self.cluster = world.cluster

    # -- jobs ----------------------------------------------------------------------------

    def submit(self, specs: Sequence[jobs_pb2.JobSpec], *, test_only: bool = False) -> list[int]:
        w = self.world
        if w.submit_error is not None:
            raise w.submit_error
        w.submitted.extend(specs)
        if test_only:
            return []
        ids = list(range(w.next_id, w.next_id + len(specs)))
        w.next_id += len(specs)
        return ids

    def get(self, job_ids: Iterable[int]) -> tuple[list[jobs_pb2.Job], list[int]]:
        found, unknown = [], []
        for job_id in job_ids:
            (found.append(self.world.jobs[job_id]) if job_id in self.world.jobs else unknown.append(job_id))
        return found, unknown

    def list(self, *, states: Sequence[int] = (), users: Sequence[str] = (), queues: Sequence[str] = (),
             names: Sequence[str] = (), include_finished: bool = False, ended_after: float = 0.0,
             page_size: int = 0) -> list[jobs_pb2.Job]:
        request = jobs_pb2.ListJobsRequest(states=states, users=users, queues=queues, names=names,
                                           include_finished=include_finished, ended_after=ended_after)
        return list(filter(jobrules.list_filter(request), self.world.jobs.values()))

    def _each(self, job_ids: Iterable[int], act: Callable[[jobs_pb2.Job], tuple[int, str]],
              tasks: Iterable[tuple[int, int]] = ()) -> list[jobs_pb2.JobActionResult]:
        """Job ids first, then array tasks (a started task's record; the scenarios hold
        no pending task a command names alone), as ctld answers them."""
        results = []
        for job_id in job_ids:
            job = self.world.jobs.get(job_id)
            code, message = (R.UNKNOWN_JOB, "") if job is None else act(job)
            results.append(R(job_id=job_id, code=code, message=message))
        for array_job_id, index in tasks:
            job = next((j for j in self.world.jobs.values() if j.array_job_id == array_job_id
                        and j.HasField("array_task_id") and j.array_task_id == index), None)
            code, message = (R.UNKNOWN_JOB, "") if job is None else act(job)
            results.append(R(job_id=job.id if job else 0, task=jobs_pb2.ArrayTaskRef(array_job_id=array_job_id,
                                                                                      task=index),
                             code=code, message=message))
        return results

    def cancel(self, job_ids: Iterable[int], *, tasks: Iterable[tuple[int, int]] = ()
               ) -> list[jobs_pb2.JobActionResult]:
        def act(job: jobs_pb2.Job) -> tuple[int, str]:
            if job.state in _FINISHED:
                return R.FINISHED, "job has finished"
            job.cancelled_by = self.world.user
            if job.state in _QUEUED:
                job.state, job.reason, job.end_time = S.CANCELLED, "None", self.world.now
            return R.OK, ""           # a running job ends when its node reports it
        return self._each(job_ids, act, tasks)

    def hold(self, job_ids: Iterable[int], *, admin: bool = False, tasks: Iterable[tuple[int, int]] = ()
             ) -> list[jobs_pb2.JobActionResult]:
        def act(job: jobs_pb2.Job) -> tuple[int, str]:
            if job.state in _FINISHED:
                return R.FINISHED, "job has finished"
            if job.state not in _QUEUED:
                return R.INVALID_STATE, "job is not queued"
            staff = admin and self.world.role in ("operator", "admin")
            job.state, job.reason = S.HELD, "JobHeldAdmin" if staff else "JobHeldUser"
            return R.OK, ""
        return self._each(job_ids, act, tasks)

    def release(self, job_ids: Iterable[int], *, tasks: Iterable[tuple[int, int]] = ()
                ) -> list[jobs_pb2.JobActionResult]:
        def act(job: jobs_pb2.Job) -> tuple[int, str]:
            if job.reason == "JobHeldAdmin" and self.world.role not in ("operator", "admin"):
                return R.NOT_PERMITTED, "held by an administrator"
            if job.state in _FINISHED:
                return R.FINISHED, "job has finished"
            if job.state != S.HELD:
                return R.INVALID_STATE, "job is not held"
            job.state, job.reason = S.PENDING, "None"
            return R.OK, ""
        return self._each(job_ids, act, tasks)

    def signal(self, job_ids: Iterable[int], signal: int, *, tasks: Iterable[tuple[int, int]] = ()
               ) -> list[jobs_pb2.JobActionResult]:
        def act(job: jobs_pb2.Job) -> tuple[int, str]:
            if job.state in _FINISHED:
                return R.FINISHED, "job has finished"
            return (R.OK, "") if job.state in (S.RUNNING, S.COMPLETING) else (R.INVALID_STATE, "job is not running")
        return self._each(job_ids, act, tasks)

    def update(self, job_id: int, spec: jobs_pb2.JobSpec, fields: Sequence[str], *,
               task: tuple[int, int] | None = None) -> jobs_pb2.Job:
        job = self.world.jobs.get(job_id)
        if job is None:
            raise HpcqError("NOT_FOUND", f"UNKNOWN_JOB: job {job_id} does not exist")
        if job.state not in _QUEUED:
            raise HpcqError("FAILED_PRECONDITION", f"NOT_QUEUED: job {job.id} is no longer queued")
        for path in fields:
            _copy_path(spec, job.spec, path)
        if "walltime_seconds" in fields:
            job.walltime_seconds = job.spec.walltime_seconds
        return job

    # -- admin ---------------------------------------------------------------------------

    def nodes(self, names: Sequence[str] = ()) -> list[admin_pb2.Node]:
        return [n for n in self.world.nodes if not names or n.name in names]

    def queues(self, names: Sequence[str] = ()) -> list[admin_pb2.Queue]:
        return [q for q in self.world.queues if not names or q.name in names]

    def server_info(self) -> admin_pb2.ServerInfoResponse:
        by_state: dict[str, int] = {}
        for job in self.world.jobs.values():
            name = jobs_pb2.JobState.Name(job.state)
            by_state[name] = by_state.get(name, 0) + 1
        default = next((q.name for q in self.world.queues if q.is_default), "")
        return admin_pb2.ServerInfoResponse(cluster=self.world.cluster, version="0.1.0", next_job_id=self.world.next_id,
                                            jobs_by_state=by_state, nodes=len(self.world.nodes),
                                            caller=self.world.user, caller_role=self.world.role,
                                            default_queue=default, settings=self.world.settings)

    def close(self) -> None:
        pass


_FINISHED = frozenset(states.FINISHED)
_QUEUED = frozenset(states.QUEUED)


def _copy_path(source, target, path: str) -> None:  # protobuf messages
    """As ctld's: copy one dotted field path."""
    head, _, rest = path.partition(".")
    if rest:
        _copy_path(getattr(source, head), getattr(target, head), rest)
        return
    fd = source.DESCRIPTOR.fields_by_name[head]
    if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
        getattr(target, head).clear()
        getattr(target, head).update(getattr(source, head))
    elif fd.is_repeated:
        del getattr(target, head)[:]
        getattr(target, head).extend(getattr(source, head))
    elif fd.message_type is not None:
        getattr(target, head).CopyFrom(getattr(source, head))
    elif head == "requeue" and not source.HasField("requeue"):
        target.ClearField("requeue")
    else:
        setattr(target, head, getattr(source, head))


@dataclass
class Output:
    stdout: str
    stderr: str
    exit: int


def run(main: Callable[[list[str]], int], argv: list[str], world: FakeCluster, monkeypatch, *,
        stdin: str = "") -> Output:
    """Run a shim's main as the command, against `world`, at `world.now`."""
    monkeypatch.setattr(connection, "open_client", world.client)
    monkeypatch.setattr(clock, "now", lambda: world.now)
    monkeypatch.setattr(submit_context, "login_name", lambda: world.user)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return Output(out.getvalue(), err.getvalue(), code)
