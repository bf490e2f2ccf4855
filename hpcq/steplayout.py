"""Where a job step's tasks are: which global ranks each node of the step runs, and
which CPUs each task is bound to (srun --cpu-bind).

ctld plans a step's block distribution into JobStep.nodes / tasks_per_node
(hpcq/ctld/steps.py); srun, for its own node, and noded's step helper, for the others,
read that plan here the same way. Pure functions, no I/O.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hpcq.api.lite import jobs_pb2


def node_ranks(step: jobs_pb2.JobStep, node: str) -> tuple[int, list[int]]:
    """(the node's index in the step, the global ranks of its tasks): ranks are dealt
    in node order, tasks_per_node[i] to the i-th node; (-1, []) for a node not in it."""
    if node not in step.nodes:
        return -1, []
    index = list(step.nodes).index(node)
    first = sum(step.tasks_per_node[:index])
    return index, list(range(first, first + step.tasks_per_node[index]))


def ranks_on(step: jobs_pb2.JobStep, node: str) -> list[int]:
    """The global ranks of the step's tasks on a node; [] for a node not in the step."""
    return node_ranks(step, node)[1]


@dataclass(frozen=True)
class CpuBind:
    """--cpu-bind: "none", "block" (cores, threads, rank, ...: consecutive CPUs of the
    job per task), "map" (CPU ids) or "mask" (hex masks), the last two per local task."""
    kind: str = "none"
    lists: tuple[frozenset[int], ...] = ()
    verbose: bool = False


def parse_cpu_bind(value: str) -> CpuBind:
    """``none``, ``cores``/``threads``/``sockets``/``ldoms``/``rank``, ``map_cpu:0,2``,
    ``mask_cpu:0x3,0xc``, each with ``verbose``/``quiet`` before it (``verbose,cores``).
    Raises ValueError for anything else."""
    kind, lists, verbose = "none", (), False
    words = value.split(",")
    i = 0
    while i < len(words):
        word = words[i].strip().lower()
        if word in ("verbose", "v"):
            verbose = True
        elif word in ("quiet", "q", ""):
            pass
        elif word in ("none", "no"):
            kind = "none"
        elif word in ("cores", "threads", "sockets", "ldoms", "rank", "boards"):
            kind = "block"
        elif word.startswith(("map_cpu:", "mask_cpu:")):
            name, _, first = word.partition(":")
            items = [first, *words[i + 1:]]
            i = len(words)
            try:
                if name == "map_cpu":
                    kind, lists = "map", tuple(frozenset({int(x, 0)}) for x in items)
                else:
                    kind, lists = "mask", tuple(_mask(int(x, 16)) for x in items)
            except ValueError:
                raise ValueError(f"invalid --cpu-bind argument {value!r}") from None
            if not lists or any(not s for s in lists):
                raise ValueError(f"invalid --cpu-bind argument {value!r}: an empty CPU list")
            continue
        else:
            raise ValueError(f"invalid --cpu-bind argument {value!r}: {word!r}")
        i += 1
    return CpuBind(kind, lists, verbose)


def _mask(bits: int) -> frozenset[int]:
    return frozenset(i for i in range(bits.bit_length()) if bits >> i & 1)


def task_cpus(bind: CpuBind, local_id: int, cpus_per_task: int, available: Sequence[int]) -> list[int]:
    """The CPUs a task is bound to; [] for no binding."""
    if bind.kind == "none" or not available:
        return []
    if bind.kind in ("map", "mask"):
        return sorted(bind.lists[local_id % len(bind.lists)])
    start = local_id * cpus_per_task
    return [available[(start + i) % len(available)] for i in range(cpus_per_task)]


def cpu_mask(cpus: Sequence[int]) -> str:
    return f"0x{sum(1 << c for c in set(cpus)):x}"
