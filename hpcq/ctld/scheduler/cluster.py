"""The nodes during one pass: free resources now, when they free up, and what is promised.

Each node keeps what it has free now, the releases to come (running jobs ending at
start + walltime, in time order) and its holds (reservations made in this pass,
each a window of resources). What a node can give at time p is

    free now + releases up to p - holds active at p

which only grows between hold starts. So a job fits on a node over [t, t + walltime)
when it fits at t and at every hold start inside the window — one check per hold,
and most nodes have none.

Nodes are grouped into classes of the same features, GPU presence and queues, and
each class keeps its nodes sorted by free CPUs (OpenCue's host cache idea): a job
looks at the nodes with just enough CPUs first, which is best fit, and a pass never
scans every node for every job.
"""
from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Mapping

from hpcq.ctld.scheduler.model import JobRequest, NodeCapacity, QueuePolicy, RunningJob, Slice

INF = math.inf
_SOON = 1.0   # a job past its walltime is about to be killed: count it as ending a second from now


class Node:
    __slots__ = ("idx", "name", "cpus_total", "mem_total", "gpus_total", "features", "cpus", "mem", "gpus",
                 "idle", "releases", "holds", "klass", "free_cpu_ids", "free_gpu_ids")

    def __init__(self, idx: int, cap: NodeCapacity) -> None:
        self.idx = idx
        self.name = cap.name
        self.cpus_total, self.mem_total, self.gpus_total = cap.cpus_total, cap.mem_total_mb, cap.gpus_total
        self.features = cap.features
        self.cpus, self.mem, self.gpus = cap.cpus_free, cap.mem_free_mb, cap.gpus_free
        self.idle = cap.idle
        self.free_cpu_ids = _ids(cap.free_cpu_ids, cap.cpus_total, cap.cpus_free)
        self.free_gpu_ids = _ids(cap.free_gpu_ids, cap.gpus_total, cap.gpus_free)
        self.releases: list[tuple[float, int, int, int]] = []         # (time, cpus, mem, gpus), sorted
        self.holds: list[tuple[float, float, int, int, int]] = []     # (start, end, cpus, mem, gpus)
        self.klass: NodeClass | None = None

    def could_ever_hold(self, job: JobRequest) -> bool:
        return (self.cpus_total >= job.cpus_per_node and self.mem_total >= job.mem_per_node_mb
                and self.gpus_total >= job.gpus_per_node and self.name not in job.exclude)

    def available_at(self, p: float) -> tuple[int, int, int]:
        c, m, g = self.cpus, self.mem, self.gpus
        for t, dc, dm, dg in self.releases:
            if t > p:
                break
            c, m, g = c + dc, m + dm, g + dg
        for start, end, hc, hm, hg in self.holds:
            if start <= p < end:
                c, m, g = c - hc, m - hm, g - hg
        return c, m, g

    def _fits_at(self, p: float, c: int, m: int, g: int, exclusive: bool) -> bool:
        ac, am, ag = self.available_at(p)
        if exclusive:
            return ac == self.cpus_total and am == self.mem_total and ag == self.gpus_total
        return ac >= c and am >= m and ag >= g

    def fits_window(self, t: float, end: float, c: int, m: int, g: int, exclusive: bool) -> bool:
        """The job's resources stay available on this node from t until end."""
        if not self._fits_at(t, c, m, g, exclusive):
            return False
        return all(self._fits_at(start, c, m, g, exclusive) for start, _, _, _, _ in self.holds if t < start < end)

    def earliest(self, now: float, walltime: float, c: int, m: int, g: int, exclusive: bool) -> float:
        """The first time from now at which the job could start here and run its walltime; INF if never."""
        if self.holds:
            return next((t for t in self.candidate_times(now)
                         if self.feasible(t, now, walltime, c, m, g, exclusive)), INF)
        # Nothing promised: what is available only grows, so the first fit is the answer.
        cc, cm, cg = self.cpus, self.mem, self.gpus
        if exclusive:
            whole = (self.cpus_total, self.mem_total, self.gpus_total)
            if self.idle and (cc, cm, cg) == whole:
                return now
            for t, dc, dm, dg in self.releases:
                cc, cm, cg = cc + dc, cm + dm, cg + dg
                if (cc, cm, cg) == whole:
                    return t
            return INF
        if cc >= c and cm >= m and cg >= g:
            return now
        for t, dc, dm, dg in self.releases:
            cc, cm, cg = cc + dc, cm + dm, cg + dg
            if cc >= c and cm >= m and cg >= g:
                return t
        return INF

    def candidate_times(self, now: float) -> list[float]:
        times = [now] + [t for t, *_ in self.releases] + [end for _, end, *_ in self.holds if end < INF]
        return sorted(set(times))

    def feasible(self, t: float, now: float, walltime: float, c: int, m: int, g: int, exclusive: bool) -> bool:
        if exclusive and t == now and not self.idle:
            return False
        return self.fits_window(t, t + walltime, c, m, g, exclusive)


def _ids(free: tuple[int, ...] | None, total: int, count: int) -> list[int]:
    return sorted(free) if free is not None else list(range(max(0, total - count), total))


def _take(free: list[int], count: int) -> tuple[int, ...]:
    """The lowest `count` free ids (one socket's cores first, on most numberings), taken."""
    taken = tuple(free[:count])
    del free[:count]
    return taken


class NodeClass:
    """Nodes that look alike to every job: same features, GPUs or not, same queues."""
    __slots__ = ("features", "has_gpus", "queues", "by_free")

    def __init__(self, features: frozenset[str], has_gpus: bool, queues: frozenset[str]) -> None:
        self.features, self.has_gpus, self.queues = features, has_gpus, queues
        self.by_free: list[tuple[int, int]] = []   # (free cpus, node index), sorted


ShapeKey = tuple[str, int, int, int, int, frozenset[str], frozenset[str], bool]


def shape_key(job: JobRequest) -> ShapeKey:
    return (job.queue, job.nodes, job.cpus_per_node, job.mem_per_node_mb, job.gpus_per_node, job.features,
            job.exclude, job.exclusive)


class Cluster:
    """The nodes of a snapshot, changed as the pass starts and reserves jobs."""

    def __init__(self, nodes: Iterable[NodeCapacity], running: Iterable[RunningJob],
                 queues: Mapping[str, QueuePolicy], now: float) -> None:
        self.now = now
        self.nodes = [Node(i, cap) for i, cap in enumerate(sorted(nodes, key=lambda n: n.name))]
        self.by_name = {n.name: n for n in self.nodes}
        self.queues = queues
        for job in running:
            if job.walltime <= 0:
                continue     # no time limit: it never frees its resources, as far as a plan can tell
            end = max(job.start_time + job.walltime, now + _SOON)
            for s in job.slices:
                node = self.by_name.get(s.node)
                if node is not None:
                    node.releases.append((end, s.cpus, s.mem_mb, s.gpus))
        classes: dict[tuple[frozenset[str], bool, frozenset[str]], NodeClass] = {}
        for node in self.nodes:
            node.releases.sort()
            in_queues = frozenset(q.name for q in queues.values() if q.nodes is None or node.name in q.nodes)
            key = (node.features, node.gpus_total > 0, in_queues)
            klass = classes.get(key)
            if klass is None:
                klass = classes[key] = NodeClass(*key)
            node.klass = klass
            klass.by_free.append((node.cpus, node.idx))
        for klass in classes.values():
            klass.by_free.sort()
        self.classes = list(classes.values())
        self._classes_for: dict[tuple[str, frozenset[str], bool], list[NodeClass]] = {}
        self._failed: dict[ShapeKey, float] = {}      # shape -> shortest walltime that did not fit now
        self._capable: dict[ShapeKey, tuple[int, int]] = {}

    def classes_for(self, job: JobRequest) -> list[NodeClass]:
        key = (job.queue, job.features, job.gpus_per_node > 0)
        found = self._classes_for.get(key)
        if found is None:
            known = job.queue in self.queues
            found = self._classes_for[key] = [
                k for k in self.classes
                if (not known or job.queue in k.queues) and job.features <= k.features
                and (k.has_gpus or job.gpus_per_node == 0)]
        return found

    def capable(self, job: JobRequest, key: ShapeKey | None = None) -> tuple[int, int]:
        """(nodes of the job's queue, of them the ones that could ever hold it)."""
        key = key or shape_key(job)
        found = self._capable.get(key)
        if found is None:
            policy = self.queues.get(job.queue)
            in_queue = len(self.nodes) if policy is None or policy.nodes is None else \
                sum(1 for n in self.nodes if n.name in policy.nodes)
            able = sum(1 for k in self.classes_for(job) for _, i in k.by_free if self.nodes[i].could_ever_hold(job))
            found = self._capable[key] = (in_queue, able)
        return found

    # --- now ---------------------------------------------------------------------

    def place_now(self, job: JobRequest, key: ShapeKey | None = None) -> list[Node] | None:
        """Best-fit nodes that take the job now and keep every hold intact; None if there are none."""
        walltime = job.walltime if job.walltime > 0 else INF
        key = key or shape_key(job)
        failed = self._failed.get(key)
        if failed is not None and failed <= walltime:
            return None     # free resources only shrink during a pass: what failed fails again
        c, m, g, k = job.cpus_per_node, job.mem_per_node_mb, job.gpus_per_node, job.nodes
        exclusive, exclude = job.exclusive, job.exclude
        end = self.now + walltime
        nodes = self.nodes
        found: list[tuple[int, int]] = []
        for klass in self.classes_for(job):
            by_free = klass.by_free
            if not by_free or by_free[-1][0] < c:
                continue
            taken = 0
            for j in range(bisect_left(by_free, (c, -1)), len(by_free)):
                item = by_free[j]
                node = nodes[item[1]]
                if node.mem < m or node.gpus < g or (exclude and node.name in exclude):
                    continue
                if exclusive and not (node.idle and node.cpus == node.cpus_total and node.mem == node.mem_total
                                      and node.gpus == node.gpus_total):
                    continue
                if node.holds and not node.fits_window(self.now, end, c, m, g, exclusive):
                    continue
                found.append(item)
                taken += 1
                if taken == k:
                    break
        if len(found) < k:
            self._failed[key] = min(walltime, self._failed.get(key, INF))
            return None
        if len(found) > k:
            found.sort()
        return [nodes[i] for _, i in found[:k]]

    def start(self, job: JobRequest, chosen: list[Node]) -> tuple[Slice, ...]:
        end = self.now + job.walltime if job.walltime > 0 else INF
        slices = []
        for node in chosen:
            if job.exclusive:
                c, m, g = node.cpus, node.mem, node.gpus
            else:
                c, m, g = job.cpus_per_node, job.mem_per_node_mb, job.gpus_per_node
            self._set_free(node, node.cpus - c)
            node.mem -= m
            node.gpus -= g
            node.idle = False
            if end < INF:
                insort(node.releases, (end, c, m, g))
            slices.append(Slice(node.name, c, m, g, _take(node.free_cpu_ids, c), _take(node.free_gpu_ids, g)))
        return tuple(slices)

    def _set_free(self, node: Node, cpus: int) -> None:
        assert node.klass is not None
        by_free = node.klass.by_free
        del by_free[bisect_left(by_free, (node.cpus, node.idx))]
        node.cpus = cpus
        insort(by_free, (cpus, node.idx))

    def any_free(self) -> bool:
        return any(k.by_free and k.by_free[-1][0] > 0 for k in self.classes)

    # --- later -------------------------------------------------------------------

    def reserve(self, job: JobRequest) -> tuple[float, list[Node]] | None:
        """Plan the job and hold its resources from then on for its walltime."""
        plan = self.plan(job)
        if plan is not None:
            self.hold(job, *plan)
        return plan

    def hold(self, job: JobRequest, start: float, nodes: list[Node]) -> None:
        end = start + job.walltime if job.walltime > 0 else INF
        for node in nodes:
            if job.exclusive:
                node.holds.append((start, end, node.cpus_total, node.mem_total, node.gpus_total))
            else:
                node.holds.append((start, end, job.cpus_per_node, job.mem_per_node_mb, job.gpus_per_node))

    def plan(self, job: JobRequest) -> tuple[float, list[Node]] | None:
        """The earliest time the job can start without breaking a hold, and the nodes then; None if never."""
        now, k = self.now, job.nodes
        walltime = job.walltime if job.walltime > 0 else INF
        c, m, g, exclusive = job.cpus_per_node, job.mem_per_node_mb, job.gpus_per_node, job.exclusive
        plain: list[tuple[float, int]] = []     # (earliest start, node index) of nodes without holds
        held: list[Node] = []
        for klass in self.classes_for(job):
            for _, i in klass.by_free:
                node = self.nodes[i]
                if not node.could_ever_hold(job):
                    continue
                if node.holds:
                    held.append(node)
                else:
                    t = node.earliest(now, walltime, c, m, g, exclusive)
                    if t < INF:
                        plain.append((t, i))
        plain.sort()
        starts = [t for t, _ in plain]
        candidates = sorted(set(starts).union(*(n.candidate_times(now) for n in held)))
        for t in candidates:
            ready_plain = bisect_right(starts, t)
            ready_held = [n.idx for n in held if n.feasible(t, now, walltime, c, m, g, exclusive)]
            if ready_plain + len(ready_held) < k:
                continue
            ready = [i for _, i in plain[:ready_plain]] + ready_held
            # Best fit at that time: the nodes with the fewest CPUs to spare.
            chosen = sorted((self.nodes[i].available_at(t)[0], i) for i in ready)[:k]
            return t, [self.nodes[i] for _, i in chosen]
        return None
