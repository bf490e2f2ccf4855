"""docs/compat.md's "Allowed differences" table is allowlist.toml's, and every entry is
well formed: cases and a reason."""
from __future__ import annotations

from tests.compat import allowlist


def test_the_doc_lists_the_allowlist() -> None:
    assert allowlist.section() in allowlist.DOC.read_text(), \
        "docs/compat.md is stale: python -m tests.compat.allowlist"


def test_every_entry_has_cases_and_a_reason() -> None:
    entries = allowlist.entries()
    assert entries
    for entry in entries:
        assert entry.cases and all(entry.cases) and len(entry.reason) > 20


def test_a_case_no_entry_names_has_no_reason() -> None:
    assert allowlist.reason("squeue --json:job_id") is None
    assert allowlist.reason("squeue --json:association_id")
