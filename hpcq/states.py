"""Job states and how PBS and Slurm spell them."""
from __future__ import annotations

from hpcq.api.lite import jobs_pb2 as pb

S = pb.JobState

FINISHED = frozenset({S.COMPLETED, S.FAILED, S.CANCELLED, S.TIMEOUT, S.NODE_FAIL, S.OUT_OF_MEMORY})
QUEUED = frozenset({S.PENDING, S.HELD, S.WAITING})
ACTIVE = frozenset({S.RUNNING, S.COMPLETING, S.SUSPENDED})

# hpcq state -> (Slurm long name, Slurm compact code)
SLURM = {
    S.PENDING: ("PENDING", "PD"),
    S.HELD: ("PENDING", "PD"),
    S.WAITING: ("PENDING", "PD"),
    S.RUNNING: ("RUNNING", "R"),
    S.COMPLETING: ("COMPLETING", "CG"),
    S.COMPLETED: ("COMPLETED", "CD"),
    S.FAILED: ("FAILED", "F"),
    S.CANCELLED: ("CANCELLED", "CA"),
    S.TIMEOUT: ("TIMEOUT", "TO"),
    S.NODE_FAIL: ("NODE_FAIL", "NF"),
    S.OUT_OF_MEMORY: ("OUT_OF_MEMORY", "OOM"),
    S.SUSPENDED: ("SUSPENDED", "S"),
}

PBS = {
    S.PENDING: "Q",
    S.HELD: "H",
    S.WAITING: "W",
    S.RUNNING: "R",
    S.COMPLETING: "E",
    S.SUSPENDED: "S",
}


def pbs_code(state: int) -> str:
    """qstat's one-letter state: finished jobs are all F."""
    return PBS.get(state, "F")


def slurm_name(state: int) -> str:
    return SLURM[state][0]


def slurm_code(state: int) -> str:
    return SLURM[state][1]


def is_finished(state: int) -> bool:
    return state in FINISHED


def from_slurm_name(word: str) -> list[int]:
    """squeue -t accepts long names and compact codes, in any case."""
    word = word.upper()
    return [s for s, (name, code) in SLURM.items() if word in (name, code)]
