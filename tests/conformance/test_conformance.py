"""Every generated case on the reference Slurm and on hpcq: identical after the one
normalisation, or a difference the allowlist explains.

Cases run a hundred at a time on a few threads, when the first of them is reached (those
that change jobs each change their own); each test then reports its own case. A case that
changes what later ones see (corpus.Case.serial) runs alone, in order."""
from __future__ import annotations

import os
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conformance import corpus, report, systems
from tests.conformance.harness import FAILED, Outcome, run_case
from tests.conformance.scenario import Scenario

WORKERS = int(os.environ.get("HPCQ_CONFORMANCE_WORKERS", "4"))
BATCH = 100        # cases run ahead at a time (so that a long run reports as it goes)


def _sacct_fields() -> list[str]:
    """What the installed sacct says its --format accepts. Read with a configuration of our
    own: the cases are made before the suite's Slurm is set up, and without accounting in
    the host's slurm.conf (or without one) sacct lists nothing, which dropped every
    per-field case of a fresh machine's run."""
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp, "slurm.conf")
        conf.write_text("ClusterName=cf\nSlurmctldHost=localhost\nAccountingStorageType=accounting_storage/slurmdbd\n")
        done = subprocess.run([str(systems.SLURM_BIN / "sacct"), "--helpformat"], capture_output=True, text=True,
                              env={**os.environ, "SLURM_CONF": str(conf)}, timeout=60)
    fields = done.stdout.split()
    if not fields:
        raise RuntimeError(f"sacct --helpformat listed no field: {done.stderr.strip()}")
    return fields


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


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: corpus.Case, scenario: Scenario, both: list[systems.System], workdir: Path) -> None:
    outcome = _outcome(case, scenario, both, workdir)
    report.append(outcome)
    if outcome.verdict == FAILED:
        pytest.fail(f"Slurm and hpcq differ (not in allowlist.toml):\n{outcome.diff}", pytrace=False)
