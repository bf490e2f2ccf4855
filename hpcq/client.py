"""The low-level client over the Jobs and Admin services: it answers with the API's
protobuf messages and imports next to nothing, which is what the commands need to start
fast. The public SDK, hpcq.Client (hpcq/_sdk.py), wraps it with typed views; this one is
`hpcq.Client(...).raw`."""
from __future__ import annotations

import os
import time

from hpcq import states
from hpcq.api.lite import admin_pb2, jobs_pb2
from hpcq.errors import HpcqError
from hpcq.transport import REPEATABLE, AgentTransport, GrpcTransport, Retrying, retry_window

# Nothing for type checkers only is imported at run time: typing alone would cost every
# command ~10 ms at start-up (see hpcq/protolite.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from typing import TypeVar

    from google.protobuf.message import Message

    from hpcq import config as configuration
    from hpcq.allocation import Allocation
    from hpcq.transport import Transport

    Reply = TypeVar("Reply", bound=Message)
    TaskRefs = Iterable[tuple[int, int]]     # array tasks by (array job id, index)

JobSpec = jobs_pb2.JobSpec
Job = jobs_pb2.Job

# ctld answers at most this many job ids per Get or action (hpcq.ctld.jobs.MAX_JOB_IDS);
# longer lists go in several calls.
MAX_JOB_IDS_PER_CALL = 100_000
# A job id is a uint64 on the wire; a larger number names no job.
MAX_JOB_ID = 2**64 - 1
# A watch of every job made again after its stream was cut asks for the jobs that finished
# since its last record less this margin: a job's end time is its node's clock, not this
# one; a finish ctld sent just before the cut may have been behind others on the stream;
# and a node's report of an end just before the cut may reach ctld only after. Too wide
# costs only records the watch already had, sent again.
WATCH_RESUME_MARGIN = 60.0


def _chunks(job_ids: Iterable[int]) -> Iterator[list[int]]:
    ids = list(job_ids)
    for start in range(0, max(len(ids), 1), MAX_JOB_IDS_PER_CALL):
        yield ids[start:start + MAX_JOB_IDS_PER_CALL]


class Client:
    """A connection to hpcq-ctld, through the host agent or with a personal certificate.

    >>> with Client.from_config() as c:
    ...     job_id = c.submit_one(JobSpec(name="hello", script="#!/bin/sh\\necho hi\\n"))
    ...     c.wait([job_id])
    """

    def __init__(self, transport: Transport, *, cluster: str = "", timeout: float = 60.0,
                 retry_seconds: float | None = None, on_retry: Callable[[HpcqError], None] | None = None) -> None:
        """`retry_seconds` (default: HPCQ_RETRY_SECONDS, else 60): how long a call that is
        safe to repeat is retried while ctld is unreachable or overloaded; `on_retry` hears
        of the first retry (hpcq.transport.Retrying)."""
        self._transport = transport
        self._timeout = timeout
        self._retrying = Retrying(retry_seconds if retry_seconds is not None else retry_window(60.0), on_retry)
        self.cluster = cluster

    @classmethod
    def connect(cls, *, timeout: float = 60.0, on_retry: Callable[[HpcqError], None] | None = None) -> Client:
        """The quickest way in for a command: the local agent's socket when one is found
        without reading any config file, else `from_config()`."""
        socket_path = _agent_socket_without_config()
        if socket_path:
            return cls(AgentTransport(socket_path), timeout=timeout, on_retry=on_retry)
        return cls.from_config(timeout=timeout, on_retry=on_retry)

    @classmethod
    def from_config(cls, config: configuration.Config | None = None, *, timeout: float = 60.0,
                    use_agent: bool = True, on_retry: Callable[[HpcqError], None] | None = None) -> Client:
        """A client for the cluster the configuration names (see hpcq.config for discovery).

        The host agent's socket is used when it exists (unless use_agent is False: admin
        tools act with their own certificate); else the personal certificate of
        [client]; else HpcqError says what is missing and how to get it.
        """
        from hpcq import config as configuration

        config = config or configuration.load()
        c = config.client
        socket_path = os.environ.get("HPCQ_AGENT_SOCKET", c.agent_socket)  # set but empty: no agent
        retrying = retry_window(c.retry_seconds)
        if use_agent and socket_path and os.path.exists(socket_path):
            return cls(AgentTransport(socket_path), cluster=config.cluster.name, timeout=timeout,
                       retry_seconds=retrying, on_retry=on_retry)
        missing = [k for k in ("ca", "cert", "key") if not getattr(c, k)]
        if missing:
            where = config.path or "no config file found (" + ", ".join(map(str, configuration.candidate_paths())) + ")"
            raise HpcqError("UNAUTHENTICATED", f"no hpcq-agent socket at {socket_path or '(none configured)'} and "
                            f"{where}: [client] {', '.join(missing)} not set; run `hpcqctl up` for a local cluster, "
                            "or ask your administrator for a certificate (`hpcqctl certs issue user $USER`)")
        transport = GrpcTransport(c.server, ca=c.ca, cert=c.cert, key=c.key, server_name=c.server_name)
        return cls(transport, cluster=config.cluster.name, timeout=timeout, retry_seconds=retrying,
                   on_retry=on_retry)

    def close(self) -> None:
        self._transport.close()
    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- jobs -------------------------------------------------------------------------

    def submit(self, specs: Sequence[JobSpec], *, test_only: bool = False,
               idempotency_key: str | None = None) -> list[int]:
        """Submit jobs in one call; returns their ids, in order. Durable when it returns.

        The call carries an idempotency key (a random one unless given; "" sends none): a
        retry after a lost answer returns the first attempt's ids instead of new jobs."""
        key = os.urandom(16).hex() if idempotency_key is None else idempotency_key
        request = jobs_pb2.SubmitRequest(specs=specs, test_only=test_only, idempotency_key=key)
        reply = self._call("/hpcq.v1.Jobs/Submit", request, jobs_pb2.SubmitResponse, repeatable=bool(key))
        self.cluster = reply.cluster or self.cluster
        return list(reply.job_ids)

    def submit_one(self, spec: JobSpec) -> int:
        return self.submit([spec])[0]

    def get(self, job_ids: Iterable[int]) -> tuple[list[Job], list[int]]:
        """The records of these jobs, and the ids ctld does not know (asking again for
        those a full answer left over)."""
        jobs: list[Job] = []
        ids = list(job_ids)
        unknown = [i for i in ids if not 0 <= i <= MAX_JOB_ID]
        for chunk in _chunks([i for i in ids if 0 <= i <= MAX_JOB_ID] if unknown else ids):
            request = jobs_pb2.GetJobsRequest(job_ids=chunk)
            while True:
                reply = self._call("/hpcq.v1.Jobs/Get", request, jobs_pb2.GetJobsResponse)
                self.cluster = reply.cluster or self.cluster
                jobs.extend(reply.jobs)
                unknown.extend(reply.unknown_ids)
                if not reply.more_ids or len(reply.more_ids) == len(request.job_ids):
                    break
                request = jobs_pb2.GetJobsRequest(job_ids=reply.more_ids)
        return jobs, unknown

    def watch(self, job_ids: Iterable[int] = (), *, send_initial: bool = True,
              timeout: float | None = None) -> Iterator[Job]:
        """Every change of these jobs (of every visible job if none given), as it happens;
        with a timeout, HpcqError DEADLINE_EXCEEDED once that has passed. `send_initial`:
        first the current record of each named job; watching every job, of each unfinished
        one. When ctld goes away (a restart, a failover), the jobs are watched again, and the
        current records sent again: named jobs each as they are then; watching every job,
        every unfinished job, and each job that finished after the last record this watch
        had, less WATCH_RESUME_MARGIN seconds. A job may then come twice."""
        request = jobs_pb2.WatchRequest(job_ids=list(job_ids), send_initial=send_initial)
        heard = time.time()   # when this watch last had a record: nothing ended since is lost

        def again() -> bytes:
            request.send_initial = True   # what changed in between is in each job's state now
            if not request.job_ids:       # and what finished in between, in no job's state now
                request.finished_after = heard - WATCH_RESUME_MARGIN
            return request.SerializeToString()
        for raw in self._resumed("/hpcq.v1.Jobs/Watch", request.SerializeToString(), again, timeout):
            heard = time.time()
            yield jobs_pb2.JobEvent.FromString(raw).job

    def wait(self, job_ids: Iterable[int], timeout: float | None = None) -> list[Job]:
        """Block until every job has finished; returns their final records, by id.
        Raises TimeoutError when they have not all finished within `timeout` seconds.
        A restart of ctld meanwhile is ridden out: the jobs are watched again."""
        pending = set(job_ids)
        done: dict[int, Job] = {}
        if not pending:
            return []
        try:
            for job in self.watch(pending, timeout=timeout):
                if job.id in pending and states.is_finished(job.state):
                    done[job.id] = job
                    pending.discard(job.id)
                    if not pending:
                        break
        except HpcqError as e:
            if e.code != "DEADLINE_EXCEEDED":
                raise
            raise TimeoutError(f"jobs {sorted(pending)} still not finished after {timeout} s") from None
        return [done[i] for i in sorted(done)]

    def _resumed(self, method: str, first: bytes, again: Callable[[], bytes],
                 timeout: float | None) -> Iterator[bytes]:
        """A reply stream (a read) that is opened again with the request `again()` makes,
        when ctld goes away mid-way, within the retry window of each gap; `timeout` bounds
        the whole stream."""
        deadline = None if timeout is None else time.monotonic() + timeout

        def open_stream(reopened: bool) -> Iterator[bytes]:
            remaining = None if deadline is None else max(0.001, deadline - time.monotonic())
            return self._transport.stream(method, again() if reopened else first, remaining)
        return self._retrying.resumed(open_stream)

    # `tasks`: array tasks by (array job id, index), Slurm's N_i and PBS's N[i], besides
    # the job ids; each gets its own result, with `task` set.

    def cancel(self, job_ids: Iterable[int], *, tasks: TaskRefs = ()) -> list[jobs_pb2.JobActionResult]:
        return self._action("Cancel", job_ids, tasks=tasks)

    def hold(self, job_ids: Iterable[int], *, admin: bool = False,
             tasks: TaskRefs = ()) -> list[jobs_pb2.JobActionResult]:
        return self._action("Hold", job_ids, admin=admin, tasks=tasks)

    def release(self, job_ids: Iterable[int], *, tasks: TaskRefs = ()) -> list[jobs_pb2.JobActionResult]:
        return self._action("Release", job_ids, tasks=tasks)

    def signal(self, job_ids: Iterable[int], signal: int, *,
               tasks: TaskRefs = ()) -> list[jobs_pb2.JobActionResult]:
        return self._action("Signal", job_ids, signal=signal, tasks=tasks)

    def requeue(self, job_ids: Iterable[int], *, tasks: TaskRefs = (),
                hold: bool = False) -> list[jobs_pb2.JobActionResult]:
        """Back to the queue for another attempt, running or finished (scontrol requeue,
        qrerun); with `hold`, held there (scontrol requeuehold)."""
        return self._action("Requeue", job_ids, tasks=tasks, hold=hold)

    def suspend(self, job_ids: Iterable[int], *, tasks: TaskRefs = ()) -> list[jobs_pb2.JobActionResult]:
        """Stop running jobs where they are, their CPUs kept (operators and admins)."""
        return self._action("Suspend", job_ids, tasks=tasks)

    def resume(self, job_ids: Iterable[int], *, tasks: TaskRefs = ()) -> list[jobs_pb2.JobActionResult]:
        """Let suspended jobs run on (operators and admins)."""
        return self._action("Resume", job_ids, tasks=tasks)

    def update(self, job_id: int, spec: JobSpec, fields: Sequence[str], *, task: tuple[int, int] | None = None) -> Job:
        """Change the named JobSpec fields of a job; with `task` (array job id, index), of
        that array task instead (job_id is then ignored: pass 0)."""
        request = jobs_pb2.UpdateJobRequest(job_id=job_id, spec=spec, fields=fields)
        if task is not None:
            request.task.array_job_id, request.task.task = task
        return self._call("/hpcq.v1.Jobs/Update", request, jobs_pb2.UpdateJobResponse).job

    def explain(self, job_id: int) -> jobs_pb2.ExplainResponse:
        """Why a job is pending: its reason, priority factors and planned start."""
        return self._call("/hpcq.v1.Jobs/Explain", jobs_pb2.ExplainRequest(job_id=job_id), jobs_pb2.ExplainResponse)

    def output(self, job_id: int, *, step_id: int | None = None, stderr: bool = False, follow: bool = False,
               offset: int = 0, timeout: float | None = None) -> Iterator[bytes]:
        """Your running job's output file (stderr: its error file) from byte `offset`, as it
        is on the job's node; with `follow`, also what the job writes after, until it ends.
        HpcqError FAILED_PRECONDITION when the job does not run (JOB_PENDING, JOB_NOT_RUNNING).
        When ctld goes away meanwhile, the file is read on from where it broke off, to its
        end if the job ended meanwhile (JOB_NOT_RUNNING if its node no longer has it)."""
        request = jobs_pb2.OutputRequest(job_id=job_id, stderr=stderr, follow=follow, offset=offset)
        if step_id is not None:
            request.step_id = step_id

        def again() -> bytes:   # from the first byte not yet had, to the end of a job that ended meanwhile
            request.after_end = True
            return request.SerializeToString()
        for raw in self._resumed("/hpcq.v1.Jobs/Output", request.SerializeToString(), again, timeout):
            chunk = jobs_pb2.OutputChunk.FromString(raw)
            request.offset = chunk.offset + len(chunk.data)
            yield chunk.data

    def usage(self, job_id: int) -> jobs_pb2.UsageResponse:
        """What your running job has used so far, as its node last measured it (sstat)."""
        reply = self._call("/hpcq.v1.Jobs/Usage", jobs_pb2.UsageRequest(job_id=job_id), jobs_pb2.UsageResponse)
        self.cluster = reply.cluster or self.cluster
        return reply

    def create_step(self, job_id: int, *, name: str, ntasks: int = 1, cpus_per_task: int = 1, nodes: int = 0,
                    launch: jobs_pb2.StepLaunch | None = None) -> jobs_pb2.CreateStepResponse:
        """A new step of your running job (srun); the reply holds the step and the job.
        `nodes` 0: as many of the allocation's nodes as there are tasks. With `launch`,
        ctld has the tasks on nodes other than `launch.launch_node` started there."""
        request = jobs_pb2.CreateStepRequest(job_id=job_id, name=name, ntasks=ntasks, cpus_per_task=cpus_per_task,
                                             nodes=nodes, launch=launch)
        return self._call("/hpcq.v1.Jobs/CreateStep", request, jobs_pb2.CreateStepResponse)

    def finish_step(self, job_id: int, step_id: int, *, exit_code: int, signal: int = 0, cancelled: bool = False,
                    cpu_seconds: float = 0.0, max_rss_kb: int = 0, attempt: int = 0) -> jobs_pb2.JobStep:
        """Report how a step ended (its highest task exit code); repeats are harmless.
        `attempt`: the run the step was created in (its JobStep.attempt); 0, the job's current run."""
        request = jobs_pb2.FinishStepRequest(job_id=job_id, step_id=step_id, exit_code=exit_code, signal=signal,
                                             cancelled=cancelled, cpu_seconds=cpu_seconds, max_rss_kb=max_rss_kb,
                                             attempt=attempt)
        return self._call("/hpcq.v1.Jobs/FinishStep", request, jobs_pb2.FinishStepResponse).step

    def allocate(self, spec: JobSpec) -> Allocation:
        """An interactive allocation (salloc): read its events() until it is granted; it is
        held until you release() it (closing the Allocation without a release leaves it
        held for ctld's allocation grace; see hpcq/allocation.py). A call cut off by ctld's
        or the host agent's going away is made again within the retry window."""
        from hpcq.allocation import Allocation
        return Allocation.open(self._transport, spec, self._retrying)

    def _action(self, method: str, job_ids: Iterable[int], *, signal: int = 0, admin: bool = False,
                tasks: TaskRefs = (), hold: bool = False) -> list[jobs_pb2.JobActionResult]:
        results: list[jobs_pb2.JobActionResult] = []
        ids = list(job_ids)
        refs = [jobs_pb2.ArrayTaskRef(array_job_id=a, task=i) for a, i in tasks]
        # One key for the action: a retry after a lost answer is answered as the first attempt.
        key = os.urandom(16).hex()
        # ctld counts ids and task refs together against its limit per call.
        for start in range(0, max(len(ids) + len(refs), 1), MAX_JOB_IDS_PER_CALL):
            end = start + MAX_JOB_IDS_PER_CALL
            request = jobs_pb2.JobActionRequest(job_ids=ids[start:end], signal=signal, admin=admin, hold=hold,
                                                tasks=refs[max(0, start - len(ids)):max(0, end - len(ids))],
                                                idempotency_key=key)
            results += self._call(f"/hpcq.v1.Jobs/{method}", request, jobs_pb2.JobActionResponse).results
        return results

    # -- admin ------------------------------------------------------------------------

    def server_info(self) -> admin_pb2.ServerInfoResponse:
        reply = self._call("/hpcq.v1.Admin/ServerInfo", admin_pb2.ServerInfoRequest(), admin_pb2.ServerInfoResponse)
        self.cluster = reply.cluster or self.cluster
        return reply

    def nodes(self, names: Sequence[str] = ()) -> list[admin_pb2.Node]:
        return list(self._call("/hpcq.v1.Admin/ListNodes", admin_pb2.ListNodesRequest(names=names),
                               admin_pb2.ListNodesResponse).nodes)

    def drain_node(self, name: str, reason: str = "") -> admin_pb2.Node:
        return self._node_action("DrainNode", name, reason)

    def resume_node(self, name: str) -> admin_pb2.Node:
        return self._node_action("ResumeNode", name, "")

    def remove_node(self, name: str) -> admin_pb2.Node:
        return self._node_action("RemoveNode", name, "")

    def _node_action(self, method: str, name: str, reason: str) -> admin_pb2.Node:
        return self._call(f"/hpcq.v1.Admin/{method}", admin_pb2.NodeActionRequest(name=name, reason=reason),
                          admin_pb2.NodeActionResponse).node

    def shares(self) -> list[admin_pb2.Share]:
        """Fair-share: configured shares of accounts and users, with their decayed usage."""
        return list(self._call("/hpcq.v1.Admin/ListShares", admin_pb2.ListSharesRequest(),
                               admin_pb2.ListSharesResponse).shares)

    def share_usage(self) -> admin_pb2.ListSharesResponse:
        """Fair-share: the configured shares, and the decayed usage of every user and
        account that has any (what sshare normalises)."""
        return self._call("/hpcq.v1.Admin/ListShares", admin_pb2.ListSharesRequest(), admin_pb2.ListSharesResponse)

    def set_share(self, account: str, shares: int, user: str = "") -> admin_pb2.Share:
        """Set the raw shares of an account, or of a user inside it (operators and admins)."""
        request = admin_pb2.SetShareRequest(share=admin_pb2.Share(account=account, user=user, shares=shares))
        return self._call("/hpcq.v1.Admin/SetShare", request, admin_pb2.SetShareResponse).share

    def queues(self, names: Sequence[str] = ()) -> list[admin_pb2.Queue]:
        return list(self._call("/hpcq.v1.Admin/ListQueues", admin_pb2.ListQueuesRequest(names=names),
                               admin_pb2.ListQueuesResponse).queues)

    def create_queue(self, queue: admin_pb2.Queue) -> admin_pb2.Queue:
        return self._call("/hpcq.v1.Admin/CreateQueue", admin_pb2.QueueRequest(queue=queue),
                          admin_pb2.QueueResponse).queue

    def update_queue(self, queue: admin_pb2.Queue, fields: Sequence[str]) -> admin_pb2.Queue:
        return self._call("/hpcq.v1.Admin/UpdateQueue", admin_pb2.QueueRequest(queue=queue, fields=fields),
                          admin_pb2.QueueResponse).queue

    def delete_queue(self, name: str) -> None:
        self._call("/hpcq.v1.Admin/DeleteQueue", admin_pb2.DeleteQueueRequest(name=name),
                   admin_pb2.DeleteQueueResponse)

    # -- transport --------------------------------------------------------------------

    def _call(self, method: str, request: Message, response_type: type[Reply], *,
              repeatable: bool | None = None) -> Reply:
        payload = request.SerializeToString()
        reply = self._retrying.call(lambda: self._transport.unary(method, payload, self._timeout),
                                    method in REPEATABLE if repeatable is None else repeatable)
        return response_type.FromString(reply)

    # Last in the class: below it, `list` in an annotation would name this method for
    # type checkers, not the builtin.
    def list(self, *, states: Sequence[int] = (), users: Sequence[str] = (), queues: Sequence[str] = (),
             names: Sequence[str] = (), include_finished: bool = False, ended_after: float = 0.0,
             page_size: int = 0) -> list[Job]:
        """Jobs matching every given filter (all pages)."""
        # The .pyi types a repeated enum by its class; any int of JobState is one.
        request = jobs_pb2.ListJobsRequest(states=states,  # type: ignore[arg-type]
                                           users=users, queues=queues, names=names,
                                           include_finished=include_finished, ended_after=ended_after,
                                           page_size=page_size)
        jobs: list[Job] = []
        while True:
            reply = self._call("/hpcq.v1.Jobs/List", request, jobs_pb2.ListJobsResponse)
            self.cluster = reply.cluster or self.cluster
            jobs.extend(reply.jobs)
            if not reply.next_page_token:
                return jobs
            request.page_token = reply.next_page_token


def _agent_socket_without_config() -> str | None:
    """HPCQ_AGENT_SOCKET (set but empty: use no agent); else the local cluster's socket in
    $HPCQ_HOME; else, when no config file exists that could name another, the standard
    /run/hpcq/agent.sock."""
    if "HPCQ_AGENT_SOCKET" in os.environ:
        named = os.environ["HPCQ_AGENT_SOCKET"]
        return named if named and os.path.exists(named) else None
    if os.environ.get("HPCQ_CONF"):
        return None
    home = os.environ.get("HPCQ_HOME") or os.path.expanduser("~/.local/state/hpcq")
    local = os.path.join(home, "run", "agent.sock")
    if os.path.exists(local) and os.path.exists(os.path.join(home, "hpcq.toml")):
        return local
    standard = "/run/hpcq/agent.sock"
    configs = (os.path.join(home, "hpcq.toml"), os.path.expanduser("~/.config/hpcq/hpcq.toml"), "/etc/hpcq/hpcq.toml")
    if os.path.exists(standard) and not any(os.path.exists(p) for p in configs):
        return standard
    return None
