"""The captured outputs of real Slurm 22.05 and OpenPBS 23.06 (shared/compat/), read as
cases: a command line, what it printed, and its exit code.

Two layouts. A Slurm file is one command::

    $ squeue -l
    # exit=0 cwd=... at 2026-11-23T13:08:07+00:00
    --- stdout ---
    ...
    --- stderr ---
    ...

A PBS file is a session of several commands, stdout and stderr mixed::

    $ qhold 23.pbshost
    [exit=0]

Lines starting ``#`` outside a command's output are notes. A file cut at 150 lines
ends ``[... N more lines trimmed ...]``: its last case is marked ``trimmed`` (what is
shown of it is all there is to compare). Files that record no shim command (job
output, environment dumps, logs) yield no case.
"""
from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

# A copy of shared/compat/ lives beside the tests, so that CI checks against it on any machine.
COMPAT_DIR = Path(os.environ.get("HPCQ_COMPAT_DIR", Path(__file__).resolve().parent / "captured"))
_TRIMMED = re.compile(r"\[\.\.\. \d+ more lines trimmed \.\.\.\]")
_EXIT = re.compile(r"\[exit=(-?\d+)\]")
SHIM_COMMANDS = frozenset({"qsub", "qstat", "qdel", "qhold", "qrls", "qalter", "qselect", "qsig", "pbsnodes",
                           "sbatch", "squeue", "scancel", "sinfo", "sacct", "scontrol"})


@dataclass
class Case:
    """One captured command."""
    id: str                     # "slurm/squeue_long.txt", "openpbs/qdel.txt#3"
    command: str                # as typed, pipes and all
    stdout: str                 # PBS: stdout and stderr together
    stderr: str = ""
    exit: int | None = None     # None: the capture does not say
    trimmed: bool = False
    as_root: bool = False       # PBS: run by root, not the capture's user
    notes: list[str] = field(default_factory=list)

    @property
    def words(self) -> list[str]:
        """The command's words up to the first pipe."""
        return shlex.split(self.command.split(" | ")[-1] if self.command.startswith("echo ")
                           else self.command.split(" | ")[0])

    @property
    def program(self) -> str:
        words = self.words
        return os.path.basename(words[0]) if words else ""

    @property
    def is_shim(self) -> bool:
        """Whether the command is one of hpcq's shims (not ls, cat, grep of a log...)."""
        return self.program in SHIM_COMMANDS

    @property
    def stdin(self) -> str:
        """``echo true | qsub``: what the command read."""
        m = re.match(r"echo (.*?) \| ", self.command)
        return shlex.split(m[1])[0] + "\n" if m else ""

    @property
    def filters(self) -> list[list[str]]:
        """The commands its output went through: ``grep -E 'pat'``, ``head -40``."""
        if self.command.startswith("echo "):
            return []
        return [shlex.split(part) for part in self.command.split(" | ")[1:]]


def _slurm(path: Path) -> list[Case]:
    text = path.read_text()
    lines = text.split("\n")
    if not lines[0].startswith("$ ") or len(lines) < 2 or not lines[1].startswith("# exit="):
        return []
    exit_code = int(re.match(r"# exit=(-?\d+)", lines[1])[1])
    stdout_at = lines.index("--- stdout ---")
    stderr_at = lines.index("--- stderr ---") if "--- stderr ---" in lines else len(lines)
    out = lines[stdout_at + 1:stderr_at]
    trimmed = any(_TRIMMED.fullmatch(line) for line in lines)
    notes = [line for line in out if line.startswith("# (")]
    out = [line for line in out if not line.startswith("# (") and not _TRIMMED.fullmatch(line)]
    err: list[str] = []
    for line in lines[stderr_at + 1:]:
        if line.startswith("# ") or (line.startswith("--- ") and line.endswith(" ---")):
            break                   # notes and files the job wrote follow stderr
        err.append(line)
    stdout = "\n".join(out)
    if not notes:                   # "(stdout has no trailing newline)": then there is none
        stdout = stdout + "\n" if out else ""
    stderr = "\n".join(err).rstrip("\n")
    return [Case(f"slurm/{path.name}", lines[0][2:], stdout, stderr + "\n" if stderr else "", exit_code, trimmed,
                 notes=notes)]


def _pbs(path: Path) -> list[Case]:
    cases: list[Case] = []
    current: Case | None = None
    body: list[str] = []

    def close(exit_code: int | None, trimmed: bool = False) -> None:
        nonlocal current, body
        if current is not None and (body or exit_code is not None):
            current.stdout = "".join(line + "\n" for line in body)
            current.exit, current.trimmed = exit_code, trimmed
            current.id = f"openpbs/{path.name}#{len(cases) + 1}"
            cases.append(current)
        current, body = None, []

    for line in path.read_text().split("\n"):
        m = re.match(r"(# \(as root\) )?\$ (.*)", line)
        if m:
            close(None)
            current = Case("", m[2], "", as_root=bool(m[1]))
        elif _TRIMMED.fullmatch(line):
            close(None, trimmed=True)
        elif _EXIT.fullmatch(line):
            close(int(_EXIT.fullmatch(line)[1]))
        elif current is not None:
            body.append(line)
    close(None)
    return cases


def read(dialect: str, name: str) -> list[Case]:
    path = COMPAT_DIR / dialect / name
    return _slurm(path) if dialect.startswith("slurm") else _pbs(path)


def all_cases() -> list[Case]:
    """Every case of every capture file."""
    cases: list[Case] = []
    for dialect in ("slurm", "openpbs"):
        for path in sorted((COMPAT_DIR / dialect).glob("*.txt")):
            cases += read(dialect, path.name)
    return cases


