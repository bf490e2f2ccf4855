"""The releases whose output the shims reproduce (shared/compat/), and what --help and
--version print; tools compare the version number to decide which flags to use."""
from __future__ import annotations

from hpcq.shims.output import write

SLURM_VERSION_LINE = "slurm-wlm 22.05.8"
PBS_VERSION = "23.06.06"
PBS_VERSION_LINE = f"pbs_version = {PBS_VERSION}"


def slurm_help_or_version(help: bool, version: bool, usage: str) -> bool:
    """Print what `--help` / `-V` ask of a Slurm command; True when the command is done."""
    if help:
        write(usage)
    elif version:
        write(SLURM_VERSION_LINE)
    return help or version


def pbs_version(asked: bool) -> bool:
    """Print PBS's version line when `--version` asks for it; True when the command is done."""
    if asked:
        write(PBS_VERSION_LINE)
    return asked
