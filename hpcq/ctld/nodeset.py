"""NodeSet: the nodes ctld knows, their links and health, and what is allocated on each."""
from __future__ import annotations

import logging
from collections.abc import Iterator

from hpcq.api import admin_pb2, nodes_pb2
from hpcq.ctld import scheduler
from hpcq.ctld.errors import FailedPrecondition, NotFound
from hpcq.ctld.nodes_state import NodeLink, NodeRecord
from hpcq.ctld.store.writer import Delete, Put

log = logging.getLogger("hpcq.ctld")


def node_row(node: NodeRecord) -> Put:
    return Put("nodes", {"name": node.name, "record": node.persistent()})


class NodeSet:
    def __init__(self) -> None:
        self.nodes: dict[str, NodeRecord] = {}

    def load(self, raw_nodes: list[bytes]) -> None:
        for raw in raw_nodes:
            n = admin_pb2.Node.FromString(raw)
            self.nodes[n.name] = NodeRecord(n.name, hardware=n.hardware, reason=n.reason,
                                            drained=n.state == admin_pb2.NODE_DRAINED)

    def node(self, name: str) -> NodeRecord:
        """The node of that name, known from now on if it was not."""
        if name not in self.nodes:
            self.nodes[name] = NodeRecord(name)
        return self.nodes[name]

    def get(self, name: str) -> NodeRecord | None:
        return self.nodes.get(name)

    def __iter__(self) -> Iterator[NodeRecord]:
        return iter(self.nodes.values())

    def __len__(self) -> int:
        return len(self.nodes)

    def link_of(self, name: str) -> NodeLink | None:
        node = self.nodes.get(name)
        return None if node is None else node.link

    def connected(self, name: str) -> bool:
        return self.link_of(name) is not None

    # -- events -------------------------------------------------------------------------------

    def on_register(self, register: nodes_pb2.Register, link: NodeLink, now: float) -> NodeRecord:
        """A node (re)connected with its hardware: up from now, its old stream closed."""
        node = self.node(register.name)
        if node.link is not None:
            node.link.close()
        node.link, node.hardware, node.last_seen, node.boot_time = link, register.hardware, now, now
        node.down = False
        if node.reason.startswith("Not responding"):
            node.reason = ""
        return node

    def on_heartbeat(self, name: str, heartbeat: nodes_pb2.Heartbeat, now: float) -> None:
        node = self.nodes.get(name)
        if node is not None:
            node.last_seen = now
            node.load = heartbeat.load
            # Only jobs allocated here: what a node says of others' jobs is not kept.
            node.usage = {u.job_id: u for u in heartbeat.usage if u.job_id in node.jobs}
            for u in node.usage.values():
                u.node = name

    def on_disconnect(self, name: str, link: NodeLink) -> None:
        node = self.nodes.get(name)
        if node is not None and node.link is link:
            node.link = None
            log.info("node %s disconnected", name)

    def fall_silent(self, now: float, timeout: float) -> list[NodeRecord]:
        """Nodes silent for `timeout`: DOWN from now, their streams closed."""
        silent = []
        for node in self.nodes.values():
            if node.down or now - node.last_seen < timeout:
                continue
            node.down, node.reason = True, "Not responding"
            log.warning("node %s is DOWN: silent for %.0f s", node.name, now - node.last_seen)
            if node.link is not None:
                node.link.close()
                node.link = None
            silent.append(node)
        return silent

    # -- admin --------------------------------------------------------------------------------

    def set_drain(self, name: str, drained: bool, reason: str) -> NodeRecord:
        node = self.nodes.get(name)
        if node is None:
            raise NotFound("UNKNOWN_NODE", f"node {name!r} does not exist")
        node.drained, node.reason = drained, (reason or "drained by admin") if drained else ""
        return node

    def check_removable(self, name: str) -> NodeRecord:
        node = self.nodes.get(name)
        if node is None:
            raise NotFound("UNKNOWN_NODE", f"node {name!r} does not exist")
        if node.jobs:
            raise FailedPrecondition("NODE_BUSY", f"node {name} still runs jobs {sorted(node.jobs)}")
        return node

    def remove(self, name: str) -> Delete:
        node = self.nodes.pop(name)
        if node.link is not None:
            node.link.close()
        return Delete("nodes", name)

    # -- what the scheduler sees --------------------------------------------------------------

    def free_cpus(self) -> int:
        return sum(max(0, n.hardware.cpus - n.cpus_allocated) for n in self.nodes.values() if n.available)

    def capacities(self) -> tuple[scheduler.NodeCapacity, ...]:
        return tuple(self._capacity(n) for n in self.nodes.values() if n.available)

    @staticmethod
    def _capacity(n: NodeRecord) -> scheduler.NodeCapacity:
        free_cpu_ids, free_gpu_ids = n.free_ids()
        return scheduler.NodeCapacity(
            name=n.name, cpus_total=n.hardware.cpus, cpus_free=n.hardware.cpus - n.cpus_allocated,
            mem_total_mb=n.hardware.memory_mb, mem_free_mb=n.hardware.memory_mb - n.mem_allocated_mb,
            gpus_total=len(n.hardware.gpus), gpus_free=len(n.hardware.gpus) - n.gpus_allocated,
            features=frozenset(n.hardware.features), idle=not n.jobs, free_cpu_ids=free_cpu_ids,
            free_gpu_ids=free_gpu_ids)
