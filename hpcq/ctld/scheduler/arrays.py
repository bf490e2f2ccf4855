"""The pending rest of a job array as the scheduler sees it: its indices (a compact
IndexSet, hpcq/indexset.py) and its throttle."""
from __future__ import annotations

from dataclasses import dataclass

from hpcq.indexset import IndexSet


@dataclass(frozen=True, slots=True)
class ArrayTasks:
    """The tasks of an array that have not started yet, and its throttle (`%N`)."""
    indices: IndexSet
    throttle: int = 0     # at most this many tasks running at once; 0: no limit

    def __str__(self) -> str:
        """Slurm's `3-10%2` form (squeue shows `11251_[3-10%2]`)."""
        return f"{self.indices}%{self.throttle}" if self.throttle else str(self.indices)
