"""The compatibility tests' one allowlist (allowlist.toml), in the shape of the conformance
suite's (tests/conformance/: ``[[difference]]`` entries of ``cases`` and a ``reason``): a
difference from Slurm's or OpenPBS's output fails unless an entry's pattern matches its
case id, and that entry says why. docs/compat.md's "Allowed differences" section is
generated from it (`python -m tests.compat.allowlist`); test_allowlist_doc.py fails when
it is stale.

Case ids: ``squeue --json:<path>`` (a value of a job, dumpcheck.py's paths),
``qstat -f:<attribute>``, ``qsub <option>``...
"""
from __future__ import annotations

import fnmatch
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PATH = Path(__file__).resolve().parent / "allowlist.toml"
DOC = Path(__file__).resolve().parents[2] / "docs" / "compat.md"
BEGIN = "<!-- generated: allowed differences (python -m tests.compat.allowlist) -->"
END = "<!-- end of allowed differences -->"


@dataclass(frozen=True)
class Entry:
    cases: tuple[str, ...]     # fnmatch patterns over case ids
    reason: str

    def matches(self, case_id: str) -> bool:
        return any(fnmatch.fnmatchcase(case_id, pattern) for pattern in self.cases)


@cache
def entries() -> tuple[Entry, ...]:
    data = tomllib.loads(PATH.read_text())
    found = []
    for i, item in enumerate(data.get("difference", [])):
        cases, why = item.get("cases"), " ".join(item.get("reason", "").split())
        if not cases or not why:
            raise ValueError(f"{PATH}: difference #{i + 1} needs cases and a reason")
        found.append(Entry(tuple(cases), why))
    return tuple(found)


def reason(case_id: str) -> str | None:
    """Why hpcq's output differs in this case, if the allowlist says."""
    for entry in entries():
        if entry.matches(case_id):
            return entry.reason
    return None


def section() -> str:
    """docs/compat.md's generated table."""
    rows = "".join(f"| {', '.join(f'`{c}`' for c in e.cases)} | {e.reason} |\n" for e in entries())
    return f"{BEGIN}\n| Cases | Why hpcq differs |\n|---|---|\n{rows}{END}"


def write() -> bool:
    """Rewrite the section in docs/compat.md; whether it changed."""
    text = DOC.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    updated = head + section() + tail
    DOC.write_text(updated)
    return updated != text


if __name__ == "__main__":
    print("docs/compat.md: rewritten" if write() else "docs/compat.md: current", file=sys.stderr)
