"""How a node confines jobs, as scontrol show node and pbsnodes show it."""
from __future__ import annotations

from hpcq import confinement
from hpcq.api.lite import admin_pb2, nodes_pb2
from hpcq.shims.pbs import pbsnodes_format
from hpcq.shims.slurm import scontrol_format

V1 = "cgroup/v1 (cpuset, memory, cpuacct, memsw)"


def node(enforcement: str) -> admin_pb2.Node:
    hardware = nodes_pb2.Hardware(cpus=2, memory_mb=1000, enforcement=enforcement)
    return admin_pb2.Node(name="n1", state=admin_pb2.NODE_IDLE, hardware=hardware)


def test_scontrol_shows_the_kind_and_what_is_off_before_the_tres_lines():
    lines = scontrol_format.node_lines(node(f"{V1}{confinement.OFF}memory"), [])
    assert lines[lines.index("CfgTRES=cpu=2,mem=1000M,billing=2") - 1] == "Comment=Enforcement=cgroup/v1 (off: memory)"
    assert not any(line.startswith("Comment=") for line in scontrol_format.node_lines(node(""), []))


def test_pbsnodes_shows_it_as_a_resource_in_its_sorted_place():
    names = [name for name, _ in pbsnodes_format.attributes(node(V1), {}, "srv")]
    assert names[names.index("resources_available.host") + 1] == "resources_available.hpcq_enforcement"
    assert dict(pbsnodes_format.attributes(node(V1), {}, "srv"))["resources_available.hpcq_enforcement"] == "cgroup/v1"
    assert "resources_available.hpcq_enforcement" not in dict(pbsnodes_format.attributes(node(""), {}, "srv"))
