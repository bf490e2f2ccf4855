"""How a node says it confines jobs (Hardware.enforcement), in words both sides share:
hpcq-noded writes them (hpcq.noded.enforce), hpcq-ctld reads them ([ctld]
require_memory_enforcement) and the commands show them."""
from __future__ import annotations

CGROUP_V2, CGROUP_V1, AFFINITY = "cgroup/v2", "cgroup/v1", "affinity+rlimits"
NONE = "none"

# What [noded] turned off, named after the kind: "cgroup/v1 (...); off: memory".
OFF = "; off: "
CORES, MEMORY, PROCESSES = "cores", "memory", "process tracking"


def kind(description: str) -> str:
    """cgroup/v2, cgroup/v1, affinity+rlimits or none: the first word of a description."""
    return description.split(" ", 1)[0] if description else NONE


def turned_off(description: str) -> list[str]:
    _, found, rest = description.partition(OFF)
    return rest.split(", ") if found else []


def enforces_memory(description: str) -> bool:
    """Whether a node with this description holds a job to its memory (a cgroup limit,
    whose excess ends the job OUT_OF_MEMORY): the fallback's per-process RLIMIT_DATA is not."""
    return kind(description) in (CGROUP_V2, CGROUP_V1) and MEMORY not in turned_off(description)


def summary(description: str) -> str:
    """The kind and what is off, without the details: ``cgroup/v1``, ``cgroup/v1 (off: memory)``
    (scontrol show node, pbsnodes); "" when the node said nothing (before it registered)."""
    if not description:
        return ""
    off = turned_off(description)
    return f"{kind(description)} (off: {', '.join(off)})" if off else kind(description)
