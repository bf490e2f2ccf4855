"""Slurm's %-patterns in file names: `%j`, `%3t`, `%%` ... as sbatch and srun expand them
for their output files and scontrol shows them (StdOut=)."""
from __future__ import annotations

import re
from collections.abc import Mapping

SLURM_PATTERN = re.compile(r"%(\d*)([%jJsxAaNntu])")


def expand_slurm(pattern: str, values: Mapping[str, str]) -> str:
    """`pattern` with each %-letter replaced by its value in `values`; a width pads a
    number with zeros (%3t: 007), `%%` is a percent sign."""
    def one(m: re.Match[str]) -> str:
        width, letter = m.groups()
        if letter == "%":
            return "%"
        value = values[letter]
        return value.zfill(int(width)) if width and value.isdigit() else value
    return SLURM_PATTERN.sub(one, pattern)
