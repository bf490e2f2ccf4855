"""Every generated case on the reference Slurm and on hpcq: identical after the one
normalisation, or a difference the allowlist explains."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conformance import corpus, systems
from tests.conformance.conftest import OUTCOMES
from tests.conformance.harness import FAILED, run_case
from tests.conformance.scenario import Scenario


def _sacct_fields() -> list[str]:
    """What the installed sacct says its --format accepts."""
    done = subprocess.run([str(systems.SLURM_BIN / "sacct"), "--helpformat"], capture_output=True, text=True)
    return done.stdout.split()


CASES = corpus.generate(systems.HOST, _sacct_fields())


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: corpus.Case, scenario: Scenario, both: list[systems.System], workdir: Path) -> None:
    outcome = run_case(case, scenario, both, workdir)
    OUTCOMES.append(outcome)
    if outcome.verdict == FAILED:
        pytest.fail(f"Slurm and hpcq differ (not in allowlist.toml):\n{outcome.diff}", pytrace=False)
