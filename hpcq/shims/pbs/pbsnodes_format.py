"""pbsnodes's output as pure functions of (nodes, jobs on them, now, server): the
``-a`` listing, ``-F json``, and ``-l`` (nodes that are down or offline).

As OpenPBS 23.06 prints them (shared/compat/openpbs/pbsnodes.txt): five spaces before
each ``name = value``, sizes in kb, a job as ``21.pbshost/0`` per CPU it holds.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from hpcq import confinement, units
from hpcq.api.lite import admin_pb2, jobs_pb2
from hpcq.shims.pbs.qstat_output import Raw, json_object

Node = admin_pb2.Node
N = admin_pb2.NodeState


def state(node: Node) -> str:
    """``free``, ``job-busy`` (every CPU taken), ``offline`` (drained by an operator),
    ``down``; ``state-unknown,down`` for a node that does not answer."""
    if not node.connected:
        return "state-unknown,down" if node.state != N.NODE_DOWN else "down"
    if node.state in (N.NODE_DRAINING, N.NODE_DRAINED):
        return "offline" if node.state == N.NODE_DRAINED or not node.job_ids else "offline,job-busy"
    if node.state == N.NODE_DOWN:
        return "down"
    if node.state == N.NODE_ALLOCATED or (node.hardware.cpus and node.cpus_allocated >= node.hardware.cpus):
        return "job-busy"
    return "free"


def job_slots(node: Node, jobs: Mapping[int, jobs_pb2.Job], server: str) -> list[tuple[str, int]]:
    """(job id, CPU index) for each CPU a job holds on this node, in CPU order."""
    slots = []
    for job_id in node.job_ids:
        job = jobs.get(job_id)
        ident = f"{job_id}.{server}"
        pieces = [p for p in job.allocation.slices if p.node == node.name] if job else []
        cpus = [c for p in pieces for c in (p.cpu_ids or range(p.cpus))] or [0]
        slots += [(ident, c) for c in cpus]
    return sorted(slots, key=lambda s: s[1])


def _kb(mib: int) -> str:
    return f"{mib * 1024}kb"


def attributes(node: Node, jobs: Mapping[int, jobs_pb2.Job], server: str) -> list[tuple[str, object]]:
    """Every (name, value) ``pbsnodes -a`` shows of a node, in its order; values that
    are lists are the ``jobs`` slots, dotted names the resources."""
    hw = node.hardware
    slots = job_slots(node, jobs, server)
    items: list[tuple[str, object]] = [("Mom", hw.hostname or node.name), ("ntype", "PBS"), ("state", state(node)),
                                       ("pcpus", str(hw.cpus))]
    if slots:
        items.append(("jobs", slots))
    items += [("resources_available.arch", "linux"), ("resources_available.host", node.name)]
    if hw.enforcement:   # how the node confines jobs: a custom string resource, in PBS's sorted place
        items.append(("resources_available.hpcq_enforcement", confinement.summary(hw.enforcement)))
    items += [("resources_available.mem", _kb(hw.memory_mb)), ("resources_available.ncpus", str(hw.cpus))]
    if hw.gpus:
        items.append(("resources_available.ngpus", str(len(hw.gpus))))
    items += [("resources_available.vnode", node.name),
              ("resources_assigned.accelerator_memory", "0kb"), ("resources_assigned.hbmem", "0kb"),
              ("resources_assigned.mem", _kb(node.memory_allocated_mb)), ("resources_assigned.naccelerators", "0"),
              ("resources_assigned.ncpus", str(node.cpus_allocated))]
    if hw.gpus:
        items.append(("resources_assigned.ngpus", str(node.gpus_allocated)))
    items += [("resources_assigned.vmem", "0kb"), ("resv_enable", "True"), ("sharing", "default_shared"),
              ("license", "l")]
    if node.reason:
        items.append(("comment", node.reason))
    items += [("last_state_change_time", node.last_seen), ("last_used_time", node.last_seen)]
    return items


def render_text(nodes: Sequence[Node], jobs: Mapping[int, jobs_pb2.Job], server: str) -> str:
    """``pbsnodes -a``: the node's name, its attributes, a blank line."""
    out = []
    for node in nodes:
        out.append(f"{node.name}\n")
        for name, value in attributes(node, jobs, server):
            if isinstance(value, list):
                value = ", ".join(f"{ident}/{cpu}" for ident, cpu in value)
            elif isinstance(value, float):
                value = units.format_ctime(value) if value else ""
            out.append(f"     {name} = {value}\n")
        out.append("\n")
    return "".join(out)


def render_json(nodes: Sequence[Node], jobs: Mapping[int, jobs_pb2.Job], server: str, now: float,
                version: str) -> str:
    """``pbsnodes -av -F json``: resources grouped, zero assignments left out, jobs as a
    list, times as Unix seconds."""
    lines = ["{", f'\t"timestamp":\t{int(now)},', f'\t"pbs_version":\t"{version}",',
             f'\t"pbs_server":\t"{server}",', '\t"nodes":\t{']
    for i, node in enumerate(nodes):
        items: list[tuple[str, object]] = []
        groups: dict[str, list[tuple[str, object]]] = {}
        for name, value in attributes(node, jobs, server):
            if isinstance(value, list):
                idents = list(dict.fromkeys(ident for ident, _ in value))
                items.append((name, Raw("[" + ", ".join(f'"{x}"' for x in idents) + "]")))
                continue
            if isinstance(value, float):
                items.append((name, str(int(value))))
                continue
            prefix, dot, rest = name.partition(".")
            if not dot:
                items.append((name, value))
                continue
            if prefix == "resources_assigned" and value in ("0", "0kb"):
                continue
            if prefix not in groups:
                groups[prefix] = []
                items.append((prefix, groups[prefix]))
            groups[prefix].append((rest, value))
        lines.append(f'\t\t"{node.name}":\t{{')
        lines += json_object(items, 3)
        lines.append("\t\t}" + ("," if i + 1 < len(nodes) else ""))
    lines += ["\t}", "}"]
    return "\n".join(lines) + "\n"


def render_list(nodes: Sequence[Node]) -> str:
    """``pbsnodes -l``: the nodes that are down or offline, with the reason."""
    out = []
    for node in nodes:
        text = state(node)
        if text in ("free", "job-busy"):
            continue
        out.append(f"{node.name:<20} {text:<15} {node.reason}".rstrip() + "\n")
    return "".join(out)
