"""NodeComm: the controller's only way out to the nodes (HyperQueue tako's `Comm`).

Every message to a noded goes through here, by node name; a node that is not connected
gets nothing (it registers again and is told then). Tests give the controller a
RecordingComm and read what it would have sent.
"""
from __future__ import annotations

from collections.abc import Callable

from hpcq.api import jobs_pb2, nodes_pb2
from hpcq.ctld.nodes_state import NodeLink

Links = Callable[[str], "NodeLink | None"]


class NodeComm:
    def __init__(self, link_of: Links) -> None:
        self._link_of = link_of

    def send(self, node: str, message: nodes_pb2.CtldMessage) -> bool:
        """Queue `message` on the node's stream; False when the node is not connected."""
        link = self._link_of(node)
        if link is None:
            return False
        link.send(message)
        return True

    def link(self, node: str) -> NodeLink | None:
        """The node's stream now (None: not connected); each reconnect makes a new one."""
        return self._link_of(node)

    def forget(self, node: str, job_id: int, attempt: int) -> None:
        """The node may drop this attempt's spool (batched with the next launch)."""
        link = self._link_of(node)
        if link is not None:
            link.forget(job_id, attempt)

    # -- what the controller tells a job's nodes ----------------------------------------------

    def launch(self, job: jobs_pb2.Job, cluster: str, kill_grace: int) -> None:
        self.send(head_node(job), nodes_pb2.CtldMessage(launch=nodes_pb2.Launch(
            job=job, cluster=cluster, kill_grace_seconds=kill_grace)))

    def kill(self, job: jobs_pb2.Job, grace: int) -> None:
        if job.allocation.slices:
            self.send(head_node(job), nodes_pb2.CtldMessage(kill=nodes_pb2.KillJob(
                job_id=job.id, attempt=job.attempt, grace_seconds=grace)))

    def signal(self, job: jobs_pb2.Job, sig: int) -> None:
        if job.allocation.slices:
            self.send(head_node(job), nodes_pb2.CtldMessage(signal=nodes_pb2.SignalJob(
                job_id=job.id, attempt=job.attempt, signal=sig)))

    def suspend(self, job: jobs_pb2.Job, resume: bool, node: str = "") -> bool:
        """Stop (or continue) the job on every node it has (or on `node`): its walltime
        stands still. False when its head node, which holds the walltime, is not connected."""
        sent = {n: self.send(n, nodes_pb2.CtldMessage(suspend=nodes_pb2.SuspendJob(
                    job_id=job.id, attempt=job.attempt, resume=resume)))
                for n in ([node] if node else dict.fromkeys(s.node for s in job.allocation.slices))}
        return sent.get(head_node(job), True) if job.allocation.slices else False


def head_node(job: jobs_pb2.Job) -> str:
    """The node a job's script runs on: its first slice's."""
    return job.allocation.slices[0].node

