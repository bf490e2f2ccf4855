"""hpcq.Client: the public SDK, answering with typed views (hpcq/_views.py).

It wraps the low-level hpcq.client.Client, which the commands use because it imports
next to nothing and answers with protobuf messages; `Client.raw` is that client, for the
calls and fields this one does not cover.
"""
from __future__ import annotations

from hpcq import client as lowlevel
from hpcq._views import ActionResult, JobInfo, NodeInfo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from hpcq import config as configuration
    from hpcq.api.lite import admin_pb2, jobs_pb2
    from hpcq.transport import Transport


class Client:
    """A connection to hpcq-ctld, through the host agent or with a personal certificate.

    >>> from hpcq import Client, JobState
    >>> from hpcq.api.jobs_pb2 import JobSpec
    >>> with Client.from_config() as client:
    ...     [job_id] = client.submit([JobSpec(name="hello", script="#!/bin/sh\\necho hi\\n")])
    ...     [job] = client.wait([job_id])
    ...     job.state is JobState.COMPLETED
    True
    """

    def __init__(self, transport: Transport, *, cluster: str = "", timeout: float = 60.0,
                 retry_seconds: float | None = None) -> None:
        """`retry_seconds`: how long a call safe to repeat is retried while ctld is
        unreachable or overloaded (default: HPCQ_RETRY_SECONDS, else 60; 0: never)."""
        self.raw = lowlevel.Client(transport, cluster=cluster, timeout=timeout, retry_seconds=retry_seconds)
        """The same connection, answering with protobuf messages (hpcq.client.Client)."""

    @classmethod
    def connect(cls, *, timeout: float = 60.0) -> Client:
        """The local agent's socket when one is found without reading any config file, else
        `from_config()`: what the commands use."""
        return cls._over(lowlevel.Client.connect(timeout=timeout))

    @classmethod
    def from_config(cls, config: configuration.Config | None = None, *, timeout: float = 60.0,
                    use_agent: bool = True) -> Client:
        """A client for the cluster the configuration names: the host agent's socket when it
        exists (unless use_agent is False), else the [client] certificate; HpcqError
        UNAUTHENTICATED says what is missing when neither is there."""
        return cls._over(lowlevel.Client.from_config(config, timeout=timeout, use_agent=use_agent))

    @classmethod
    def _over(cls, raw: lowlevel.Client) -> Client:
        client = cls.__new__(cls)
        client.raw = raw
        return client

    @property
    def cluster(self) -> str:
        """The cluster's name, as ctld last gave it."""
        return self.raw.cluster

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- jobs -------------------------------------------------------------------------

    def submit(self, specs: Sequence[jobs_pb2.JobSpec], *, test_only: bool = False,
               idempotency_key: str | None = None) -> list[int]:
        """Submit jobs in one call; returns their ids, in order. Durable when it returns.
        The call is retried while ctld restarts: its idempotency key (random unless given,
        up to 128 printable ASCII characters, no spaces) makes a repeat return the first
        attempt's ids; give your own to make your own retries safe too."""
        return self.raw.submit(specs, test_only=test_only, idempotency_key=idempotency_key)

    def submit_one(self, spec: jobs_pb2.JobSpec) -> int:
        """Submit one job; returns its id."""
        return self.raw.submit_one(spec)

    def get(self, job_ids: Iterable[int]) -> tuple[list[JobInfo], list[int]]:
        """These jobs, and the ids ctld does not know."""
        jobs, unknown = self.raw.get(job_ids)
        return [JobInfo.from_proto(j) for j in jobs], unknown

    def job(self, job_id: int) -> JobInfo | None:
        """One job; None if ctld does not know it (or no longer keeps it)."""
        jobs, _ = self.get([job_id])
        return jobs[0] if jobs else None

    def watch(self, job_ids: Iterable[int] = (), *, send_initial: bool = True,
              timeout: float | None = None) -> Iterator[JobInfo]:
        """Every change of these jobs (of every visible job if none given), as it is stored;
        with a timeout, HpcqError DEADLINE_EXCEEDED once that has passed. `send_initial`:
        first each named job as it is now; with none named, every unfinished job you may
        see. When ctld goes away (a restart, a failover), the watch is made again within the
        retry window, and sends each named job as it is then; with none named, every
        unfinished job, and each that finished after the last record the watch had, less 60
        s (hpcq.client.WATCH_RESUME_MARGIN; an end time is the job's node's clock). A job
        may come twice."""
        for job in self.raw.watch(job_ids, send_initial=send_initial, timeout=timeout):
            yield JobInfo.from_proto(job)

    def output(self, job_id: int, *, step_id: int | None = None, stderr: bool = False, follow: bool = False,
               offset: int = 0) -> Iterator[bytes]:
        """Your running job's output (stderr: its error file) from byte `offset`, read on its
        node; with `follow`, what it writes after too, within a second, until it ends."""
        return self.raw.output(job_id, step_id=step_id, stderr=stderr, follow=follow, offset=offset)

    def wait(self, job_ids: Iterable[int], timeout: float | None = None) -> list[JobInfo]:
        """Block until every job has finished; returns them, by id. Raises TimeoutError when
        they have not all finished within `timeout` seconds."""
        return [JobInfo.from_proto(j) for j in self.raw.wait(job_ids, timeout)]

    # `tasks`: array tasks by (array job id, index), as Slurm's 42_7 and PBS's 42[7], started
    # or not; each gets a result of its own (`.proto.task` says which).

    def cancel(self, job_ids: Iterable[int], *, tasks: Iterable[tuple[int, int]] = ()) -> list[ActionResult]:
        """Cancel jobs (a whole array by its id: every task at every stage); one result per job."""
        return [ActionResult.from_proto(r) for r in self.raw.cancel(job_ids, tasks=tasks)]

    def hold(self, job_ids: Iterable[int], *, admin: bool = False,
             tasks: Iterable[tuple[int, int]] = ()) -> list[ActionResult]:
        """Hold queued jobs (admin: an operator hold, which only staff release)."""
        return [ActionResult.from_proto(r) for r in self.raw.hold(job_ids, admin=admin, tasks=tasks)]

    def release(self, job_ids: Iterable[int], *, tasks: Iterable[tuple[int, int]] = ()) -> list[ActionResult]:
        """Release held jobs."""
        return [ActionResult.from_proto(r) for r in self.raw.release(job_ids, tasks=tasks)]

    def signal(self, job_ids: Iterable[int], signal: int, *,
               tasks: Iterable[tuple[int, int]] = ()) -> list[ActionResult]:
        """Send a signal to running jobs' processes."""
        return [ActionResult.from_proto(r) for r in self.raw.signal(job_ids, signal, tasks=tasks)]

    def requeue(self, job_ids: Iterable[int], *, tasks: Iterable[tuple[int, int]] = (),
                hold: bool = False) -> list[ActionResult]:
        """Send running or finished jobs back to the queue for another attempt (hold: held)."""
        return [ActionResult.from_proto(r) for r in self.raw.requeue(job_ids, tasks=tasks, hold=hold)]

    def suspend(self, job_ids: Iterable[int], *, tasks: Iterable[tuple[int, int]] = ()) -> list[ActionResult]:
        """Stop running jobs, their walltime with them (operators and admins)."""
        return [ActionResult.from_proto(r) for r in self.raw.suspend(job_ids, tasks=tasks)]

    def resume(self, job_ids: Iterable[int], *, tasks: Iterable[tuple[int, int]] = ()) -> list[ActionResult]:
        """Let suspended jobs run on (operators and admins)."""
        return [ActionResult.from_proto(r) for r in self.raw.resume(job_ids, tasks=tasks)]

    def update(self, job_id: int, spec: jobs_pb2.JobSpec, fields: Sequence[str], *,
               task: tuple[int, int] | None = None) -> JobInfo:
        """Change the named JobSpec fields (e.g. "name", "resources.nodes") of a queued job;
        with `task` (array job id, index), of that array task (job_id: 0)."""
        return JobInfo.from_proto(self.raw.update(job_id, spec, fields, task=task))

    def explain(self, job_id: int) -> jobs_pb2.ExplainResponse:
        """Why a job is pending: its reason, priority factors and planned start (`.lines`
        says it all in words)."""
        return self.raw.explain(job_id)

    # -- cluster ----------------------------------------------------------------------

    def nodes(self, names: Sequence[str] = ()) -> list[NodeInfo]:
        """The nodes (these ones, or every one)."""
        return [NodeInfo.from_proto(n) for n in self.raw.nodes(names)]

    def drain_node(self, name: str, reason: str = "") -> NodeInfo:
        """Start nothing more on a node; its running jobs finish (operators and admins)."""
        return NodeInfo.from_proto(self.raw.drain_node(name, reason))

    def resume_node(self, name: str) -> NodeInfo:
        """Undo a drain (operators and admins)."""
        return NodeInfo.from_proto(self.raw.resume_node(name))

    def remove_node(self, name: str) -> NodeInfo:
        """Forget a node that has no jobs (operators and admins)."""
        return NodeInfo.from_proto(self.raw.remove_node(name))

    def server_info(self) -> admin_pb2.ServerInfoResponse:
        """The cluster's name, ctld's version, jobs by state, and who ctld takes you for."""
        return self.raw.server_info()

    # Queues and fair-share are configuration more than things users follow: they stay the
    # API's own messages (hpcq.api.admin_pb2), as the low-level client has them.

    def queues(self, names: Sequence[str] = ()) -> list[admin_pb2.Queue]:
        """The queues (these ones, or every one)."""
        return self.raw.queues(names)

    def create_queue(self, queue: admin_pb2.Queue) -> admin_pb2.Queue:
        """Create a queue (operators and admins)."""
        return self.raw.create_queue(queue)

    def update_queue(self, queue: admin_pb2.Queue, fields: Sequence[str]) -> admin_pb2.Queue:
        """Change the named fields of a queue (operators and admins)."""
        return self.raw.update_queue(queue, fields)

    def delete_queue(self, name: str) -> None:
        """Delete a queue (operators and admins)."""
        self.raw.delete_queue(name)

    def shares(self) -> list[admin_pb2.Share]:
        """Fair-share: configured shares of accounts and users, with their decayed usage."""
        return self.raw.shares()

    def share_usage(self) -> admin_pb2.ListSharesResponse:
        """Fair-share: the configured shares, and the decayed usage of every user and
        account that has any (what sshare normalises)."""
        return self.raw.share_usage()

    def set_share(self, account: str, shares: int, user: str = "") -> admin_pb2.Share:
        """Set the raw shares of an account, or of a user inside it (operators and admins)."""
        return self.raw.set_share(account, shares, user)

    # Last in the class: below it, `list` in an annotation would name this method for
    # type checkers, not the builtin.
    def list(self, *, states: Sequence[int] = (), users: Sequence[str] = (), queues: Sequence[str] = (),
             names: Sequence[str] = (), include_finished: bool = False, ended_after: float = 0.0,
             page_size: int = 0) -> list[JobInfo]:
        """Jobs matching every given filter (all pages, of page_size each); `states` are
        JobState values (none given: every unfinished state, or every state with
        include_finished)."""
        jobs = self.raw.list(states=states, users=users, queues=queues, names=names,
                             include_finished=include_finished, ended_after=ended_after, page_size=page_size)
        return [JobInfo.from_proto(j) for j in jobs]

