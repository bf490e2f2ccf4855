"""Every generated case on the reference Slurm and on hpcq: identical after the one
normalisation, or a difference the allowlist explains.

Cases run a hundred at a time on a few threads, when the first of them is reached (those
that change jobs each change their own); each test then reports its own case. A case that
changes what later ones see (corpus.Case.serial) runs alone, in order."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conformance import corpus, report, systems
from tests.conformance.harness import FAILED, Outcome, run_case
from tests.conformance.scenario import Scenario

WORKERS = int(os.environ.get("HPCQ_CONFORMANCE_WORKERS", "4"))
BATCH = 100        # cases run ahead at a time (so that a long run reports as it goes)


SACCT_FIELDS = Path(__file__).with_name("sacct_fields.txt")


def _sacct_fields() -> list[str]:
    """The fields Slurm's sacct --format accepts, as its --helpformat listed them. Recorded,
    because the cases are made before the suite's Slurm is up, and sacct lists nothing
    without a slurmdbd to talk to; test_sacct_fields_are_slurms checks the record."""
    return SACCT_FIELDS.read_text().split()


CASES = corpus.generate(systems.HOST, _sacct_fields())
_DONE: dict[str, Outcome] = {}      # run ahead, not reported yet
_RUN: set[str] = set()               # every case run so far


def _outcome(case: corpus.Case, scenario: Scenario, both: list[systems.System], workdir: Path) -> Outcome:
    if case.id not in _DONE:
        batch = [case] if case.serial else \
            [c for c in CASES if c.group == case.group and not c.serial and c.id not in _RUN][:BATCH]
        _RUN.update(c.id for c in batch)
        scenario.reach(sorted({s for c in batch for s in c.states}))
        with ThreadPoolExecutor(WORKERS) as pool:
            for c, outcome in zip(batch, pool.map(lambda c: run_case(c, scenario, both, workdir), batch), strict=True):
                _DONE[c.id] = outcome
    return _DONE.pop(case.id)


def test_sacct_fields_are_slurms(both: list[systems.System]) -> None:
    """The recorded field list is the installed Slurm's (run with the suite's slurmdbd up)."""
    listed = both[0].run(["sacct", "--helpformat"])
    assert listed.stdout.split() == _sacct_fields(), listed.stderr


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: corpus.Case, scenario: Scenario, both: list[systems.System], workdir: Path) -> None:
    outcome = _outcome(case, scenario, both, workdir)
    report.append(outcome)
    if outcome.verdict == FAILED:
        pytest.fail(f"Slurm and hpcq differ (not in allowlist.toml):\n{outcome.diff}", pytrace=False)
