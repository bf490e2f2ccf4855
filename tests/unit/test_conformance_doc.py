"""docs/compat.md's conformance section is the allowlist's (scripts/gen_compat_doc.py), and
the conformance suite's normaliser replaces what it says and nothing else."""
import importlib.util
from pathlib import Path

from tests.conformance import allowlist
from tests.conformance.normalize import normalize

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_compat_doc", ROOT / "scripts" / "gen_compat_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compat_md_conformance_section_is_current():
    gen = _generator()
    current = (ROOT / "docs" / "compat.md").read_text()
    assert current == gen.compat_markdown(current), "docs/compat.md is stale: run python scripts/gen_compat_doc.py"


def test_every_allowlist_entry_says_why():
    for entry in allowlist.entries():
        assert len(entry.reason.split()) >= 4, entry


def test_times_keep_their_shape_not_their_value():
    assert normalize("2026-12-05T23:31:38 Sat Dec 05 23:31:38 2026") == \
        normalize("2027-01-01T00:00:00 Fri Jan 01 00:00:00 2027")
    # A different shape is a different format: Slurm pads the day of the month with 0.
    assert normalize("Sat Dec 05 23:31:38 2026") != normalize("Sat Dec  5 23:31:38 2026")


def test_durations_keep_their_shape():
    assert normalize("   0:05 1-02:03:04") == normalize("   0:09 3-00:00:00")
    assert normalize("1:00:00") != normalize("   1:00")


def test_sessions_load_and_new_ids():
    assert normalize("AllocNode:Sid=localhost:4242 CPULoad=0.35 FreeMem=123\nSubmitted batch job 42\n") == \
        "AllocNode:Sid=<session> CPULoad=<load> FreeMem=<load>\nSubmitted batch job <new-id>\n"
    assert normalize("   Priority=4294901759 Nice=0") == normalize("   Priority=1 Nice=0")


def test_counts_and_ids_are_compared():
    assert normalize("JobId=5 NumCPUs=4") != normalize("JobId=6 NumCPUs=4")
    assert normalize("ElapsedRaw 12", volatile=True) == normalize("ElapsedRaw 345", volatile=True)
