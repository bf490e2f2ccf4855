"""The one allowlist of the conformance suite (allowlist.toml): a case whose outputs differ
passes only when an entry's pattern matches its id, and that entry says why hpcq does
otherwise. An entry with ``parts`` (regular expressions) allows only those parts of the
output to differ: the case passes when the outputs are equal once what they match is
masked on both sides; the rest is still compared. docs/compat.md's conformance section
is generated from it (scripts/gen_compat_doc.py)."""
from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PATH = Path(__file__).resolve().parent / "allowlist.toml"


@dataclass(frozen=True)
class Entry:
    cases: tuple[str, ...]     # fnmatch patterns over case ids
    reason: str
    parts: tuple[str, ...] = ()   # regexes: only what they match may differ (none: the whole output)

    def matches(self, case_id: str) -> bool:
        return any(fnmatch.fnmatchcase(case_id, pattern) for pattern in self.cases)

    def mask(self, text: str) -> str:
        for part in self.parts:
            text = re.sub(part, "<allowed>", text, flags=re.M)
        return text


@cache
def entries(path: Path = PATH) -> tuple[Entry, ...]:
    data = tomllib.loads(path.read_text())
    found = []
    for i, item in enumerate(data.get("difference", [])):
        cases, reason = item.get("cases"), item.get("reason", "").strip()
        if not cases or not reason:
            raise ValueError(f"{path}: difference #{i + 1} needs cases and a reason")
        found.append(Entry(tuple(cases), reason, tuple(item.get("parts", ()))))
    return tuple(found)


def explain(case_id: str, reference: str, ours: str) -> str | None:
    """Why the two (different) outputs of this case may differ, if an entry says so: one
    without parts for the case, or one whose parts, masked, leave the outputs equal."""
    for entry in entries():
        if entry.matches(case_id) and (not entry.parts or entry.mask(reference) == entry.mask(ours)):
            return entry.reason
    return None
