"""The one allowlist of the conformance suite (allowlist.toml): a case whose outputs differ
passes only when an entry's pattern matches its id, and that entry says why hpcq does
otherwise. An entry with ``parts`` (regular expressions) allows only those parts of the
output to differ, one with ``any_order`` only the order of its lines: the case passes when
the outputs are equal once every such entry for the case has masked (or sorted) both
sides; the rest is still compared. docs/compat.md's conformance section
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
    any_order: bool = False       # the same lines, in another order

    def matches(self, case_id: str) -> bool:
        return any(fnmatch.fnmatchcase(case_id, pattern) for pattern in self.cases)

    def mask(self, text: str) -> str:
        for part in self.parts:
            text = re.sub(part, "", text, flags=re.M)
        return "".join(sorted(text.splitlines(keepends=True))) if self.any_order else text

    @property
    def whole(self) -> bool:
        """It allows any difference in its cases' output."""
        return not self.parts and not self.any_order


@cache
def entries(path: Path = PATH) -> tuple[Entry, ...]:
    data = tomllib.loads(path.read_text())
    found = []
    for i, item in enumerate(data.get("difference", [])):
        cases, reason = item.get("cases"), item.get("reason", "").strip()
        if not cases or not reason:
            raise ValueError(f"{path}: difference #{i + 1} needs cases and a reason")
        found.append(Entry(tuple(cases), reason, tuple(item.get("parts", ())), bool(item.get("any_order"))))
    return tuple(found)


def explain(case_id: str, reference: str, ours: str) -> str | None:
    """Why the two (different) outputs of this case may differ, if the allowlist says: an
    entry for the case that allows any difference, or the entries for it that name parts
    (or any order), which together, masked on both sides, leave the outputs equal."""
    matching = [e for e in entries() if e.matches(case_id)]
    for entry in matching:
        if entry.whole:
            return entry.reason
    used = []
    # Parts first: a part may span lines, which sorting them (any_order) would pull apart.
    for entry in sorted(matching, key=lambda e: e.any_order):
        masked = entry.mask(reference), entry.mask(ours)
        if masked != (reference, ours):
            used.append(entry.reason)
            reference, ours = masked
    return " / ".join(used) if used and reference == ours else None
