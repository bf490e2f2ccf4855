"""Every captured case is either reproduced by a golden test or listed, with its
reason, in docs/compat.md — and no case is both."""
from __future__ import annotations

import re
from pathlib import Path

from tests.compat import captures
from tests.compat.test_pbs_goldens import MATCHED as PBS_MATCHED
from tests.compat.test_slurm_goldens import MATCHED as SLURM_MATCHED

DOC = Path(__file__).resolve().parents[2] / "docs" / "compat.md"
_LISTED = re.compile(r"^\| `((?:slurm|openpbs)/[\w.-]+\.txt(?:#\d+)?)` \|", re.MULTILINE)


def listed() -> set[str]:
    """The cases (or whole files) the differences table of docs/compat.md names."""
    text = DOC.read_text()
    section = text.split("## Captured cases that differ", 1)[1].split("\n## ", 1)[0]
    return set(_LISTED.findall(section))


def every_case() -> dict[str, list[str]]:
    """File -> its case ids (a file that records no command has none)."""
    files: dict[str, list[str]] = {}
    for dialect in ("slurm", "openpbs"):
        for path in sorted((captures.COMPAT_DIR / dialect).glob("*.txt")):
            files[f"{dialect}/{path.name}"] = [c.id for c in captures.read(dialect, path.name)]
    return files


def test_every_case_is_matched_or_explained() -> None:
    matched = set(SLURM_MATCHED) | set(PBS_MATCHED)
    explained = listed()
    missing = []
    for name, cases in every_case().items():
        if not cases:
            if name not in explained:
                missing.append(name)
            continue
        for case_id in cases:
            if case_id not in matched and case_id not in explained and name not in explained:
                missing.append(case_id)
    assert not missing, f"neither reproduced nor listed in docs/compat.md: {missing}"


def test_nothing_listed_is_matched_or_unknown() -> None:
    matched = set(SLURM_MATCHED) | set(PBS_MATCHED)
    files = every_case()
    known = set(files) | {case_id for cases in files.values() for case_id in cases}
    explained = listed()
    assert explained <= known, f"docs/compat.md lists cases that do not exist: {sorted(explained - known)}"
    both = {e for e in explained if e in matched or any(c in matched for c in files.get(e, []))}
    assert not both, f"listed as differing in docs/compat.md but reproduced: {sorted(both)}"


def test_the_count_in_the_doc_is_current() -> None:
    matched = len(set(SLURM_MATCHED) | set(PBS_MATCHED))
    total = sum(len(cases) for cases in every_case().values())
    assert f"**{matched} of the {total} captured cases are reproduced.**" in DOC.read_text()
