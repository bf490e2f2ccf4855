"""The summary of a conformance run: per command, how many cases, identical, allowed
differences and failures; and every outcome as JSON for whoever fixes the failures."""
from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from tests.conformance.harness import ALLOWED, FAILED, IDENTICAL, Outcome


def table(outcomes: Sequence[Outcome], seconds: float) -> list[str]:
    by_command: dict[str, Counter[str]] = {}
    for o in outcomes:
        by_command.setdefault(o.case.command, Counter())[o.verdict] += 1
    rows = [("command", "cases", IDENTICAL, "allowed", "failures")]
    total: Counter[str] = Counter()
    for command in sorted(by_command):
        c = by_command[command]
        total.update(c)
        rows.append((command, str(sum(c.values())), str(c[IDENTICAL]), str(c[ALLOWED]), str(c[FAILED])))
    rows.append(("total", str(sum(total.values())), str(total[IDENTICAL]), str(total[ALLOWED]), str(total[FAILED])))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["conformance: hpcq against Slurm 22.05"]
    for i, row in enumerate(rows):
        cells = zip(row, widths, strict=True)
        lines.append("  ".join(cell.ljust(w) if j == 0 else cell.rjust(w) for j, (cell, w) in enumerate(cells)))
        if i == 0 or i == len(rows) - 2:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(f"duration: {seconds / 60:.1f} min")
    return lines


def unused_entries(outcomes: Sequence[Outcome]) -> list[str]:
    """Allowlist entries that explained no difference of the run: candidates for removal."""
    from tests.conformance import allowlist
    used = {part for o in outcomes if o.verdict == ALLOWED for part in o.reason.split(" / ")}
    return [f"allowlist entry explained nothing this run: {e.cases[0]} ..." for e in allowlist.entries()
            if e.reason not in used]


def _path() -> Path:
    return Path(os.environ.get("HPCQ_CONFORMANCE_REPORT", Path(tempfile.gettempdir()) / "hpcq-conformance.jsonl"))


def _record(o: Outcome) -> str:
    return json.dumps({"case": o.case.id, "command": o.case.command, "family": o.case.family,
                       "verdict": o.verdict, "reason": o.reason, "diff": o.diff, "reference": o.reference,
                       "ours": o.ours}) + "\n"


def start() -> None:
    _path().write_text("")


# The run's outcomes. Kept here, in a plain module: pytest may import conftest.py under
# another name than the tests' import of it, and the summary would see an empty list.
OUTCOMES: list[Outcome] = []


def append(outcome: Outcome) -> None:
    """One outcome more: kept for the summary, and in the run's JSON lines as it happens (a
    long run can be read midway)."""
    OUTCOMES.append(outcome)
    with _path().open("a") as f:
        f.write(_record(outcome))


def path() -> Path:
    return _path()


def recheck(path: Path) -> list[str]:
    """A past run's differences judged again by the allowlist as it is now (after editing
    it), without running anything: the failures left, one line each."""
    from tests.conformance import allowlist
    left = []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        if r["verdict"] != IDENTICAL and not allowlist.explain(r["case"], r["reference"], r["ours"]):
            left.append(f"{r['family']}: {r['case']}")
    return left


if __name__ == "__main__":
    import sys
    failures = recheck(Path(sys.argv[1]) if len(sys.argv) > 1 else _path())
    print("\n".join(failures))
    print(f"{len(failures)} failures left")
