"""The one allowlist of the conformance suite (allowlist.toml): a case whose outputs differ
passes only when one entry's pattern matches its id, and that entry says why hpcq does
otherwise. docs/compat.md's conformance section is generated from it
(scripts/gen_compat_doc.py)."""
from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PATH = Path(__file__).resolve().parent / "allowlist.toml"


@dataclass(frozen=True)
class Entry:
    cases: tuple[str, ...]     # fnmatch patterns over case ids
    reason: str

    def matches(self, case_id: str) -> bool:
        return any(fnmatch.fnmatchcase(case_id, pattern) for pattern in self.cases)


@cache
def entries(path: Path = PATH) -> tuple[Entry, ...]:
    data = tomllib.loads(path.read_text())
    found = []
    for i, item in enumerate(data.get("difference", [])):
        cases, reason = item.get("cases"), item.get("reason", "").strip()
        if not cases or not reason:
            raise ValueError(f"{path}: difference #{i + 1} needs cases and a reason")
        found.append(Entry(tuple(cases), reason))
    return tuple(found)


def reason(case_id: str) -> str | None:
    """Why hpcq's output of this case differs, if the allowlist says."""
    for entry in entries():
        if entry.matches(case_id):
            return entry.reason
    return None
