"""What ctld knows of each node: facts it reported, its link, what is allocated on it."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from hpcq.api import admin_pb2, jobs_pb2, nodes_pb2

N = admin_pb2.NodeState


# How long a Forget may wait for a Launch to the same node to ride along with.
FORGET_DELAY = 0.1


class NodeLink:
    """The outbound half of a node's session stream: messages queue here in order."""

    def __init__(self) -> None:
        self.outbox: asyncio.Queue[nodes_pb2.CtldMessage | None] = asyncio.Queue()
        self.closed = False
        self._forgets: list[nodes_pb2.Forget] = []

    def send(self, message: nodes_pb2.CtldMessage) -> None:
        if not self.closed:
            if self._forgets and message.HasField("launch"):
                message.launch.forget.extend(self._forgets)
                self._forgets.clear()
            self.outbox.put_nowait(message)

    def forget(self, job_id: int, attempt: int) -> None:
        """Tell the node it may drop this attempt's spool: with the next Launch, or alone
        after FORGET_DELAY. A message costs each end more than the little it carries."""
        if not self._forgets:
            asyncio.get_running_loop().call_later(FORGET_DELAY, self._send_forgets)
        self._forgets.append(nodes_pb2.Forget(job_id=job_id, attempt=attempt))

    def _send_forgets(self) -> None:
        forgets, self._forgets = self._forgets, []
        for forget in forgets:
            self.send(nodes_pb2.CtldMessage(forget=forget))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.outbox.put_nowait(None)


@dataclass
class NodeRecord:
    name: str
    hardware: nodes_pb2.Hardware = field(default_factory=nodes_pb2.Hardware)
    load: nodes_pb2.Load = field(default_factory=nodes_pb2.Load)
    drained: bool = False
    down: bool = True              # until it registers
    reason: str = ""
    link: NodeLink | None = None
    last_seen: float = 0.0
    boot_time: float = 0.0
    cpus_allocated: int = 0
    mem_allocated_mb: int = 0
    gpus_allocated: int = 0
    jobs: set[int] = field(default_factory=set)
    # job id -> (its CPU ids, its GPU ids) here; a job stored before ids were kept has none
    held_ids: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)
    # job id -> what it has used so far, as the last heartbeat said (jobs allocated here only)
    usage: dict[int, jobs_pb2.JobUsage] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        """May take new work now."""
        return self.link is not None and not self.down and not self.drained

    def state(self) -> admin_pb2.NodeState:
        if self.down:
            return N.NODE_DOWN
        if self.drained:
            return N.NODE_DRAINING if self.jobs else N.NODE_DRAINED
        if not self.jobs:
            return N.NODE_IDLE
        return N.NODE_ALLOCATED if self.cpus_allocated >= self.hardware.cpus else N.NODE_MIXED

    def allocate(self, cpus: int, mem_mb: int, gpus: int, job_id: int, cpu_ids: Sequence[int] = (),
                 gpu_ids: Sequence[int] = ()) -> None:
        self.cpus_allocated += cpus
        self.mem_allocated_mb += mem_mb
        self.gpus_allocated += gpus
        self.jobs.add(job_id)
        if cpu_ids or gpu_ids:
            self.held_ids[job_id] = (tuple(cpu_ids), tuple(gpu_ids))

    def release(self, cpus: int, mem_mb: int, gpus: int, job_id: int) -> None:
        if job_id in self.jobs:
            self.jobs.discard(job_id)
            self.held_ids.pop(job_id, None)
            self.usage.pop(job_id, None)
            self.cpus_allocated -= cpus
            self.mem_allocated_mb -= mem_mb
            self.gpus_allocated -= gpus

    def free_ids(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The CPU ids (0..cpus-1) and GPU indexes no job holds here."""
        cpus_held = {i for c, _ in self.held_ids.values() for i in c}
        gpus_held = {i for _, g in self.held_ids.values() for i in g}
        return (tuple(i for i in range(self.hardware.cpus) if i not in cpus_held),
                tuple(g.index for g in self.hardware.gpus if g.index not in gpus_held))

    def to_proto(self) -> admin_pb2.Node:
        return admin_pb2.Node(
            name=self.name, state=self.state(), reason=self.reason, hardware=self.hardware, load=self.load,
            cpus_allocated=self.cpus_allocated, memory_allocated_mb=self.mem_allocated_mb,
            gpus_allocated=self.gpus_allocated, job_ids=sorted(self.jobs), last_seen=self.last_seen,
            boot_time=self.boot_time, connected=self.link is not None)

    def persistent(self) -> bytes:
        """What survives a restart: facts and the admin's drain; liveness is re-learnt."""
        return admin_pb2.Node(name=self.name, hardware=self.hardware, reason=self.reason,
                              state=N.NODE_DRAINED if self.drained else N.NODE_IDLE).SerializeToString()
