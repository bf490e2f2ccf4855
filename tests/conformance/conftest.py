"""The differential conformance suite runs only when asked (`make conformance`, which sets
HPCQ_CONFORMANCE=1): it installs and starts a reference Slurm, and takes minutes.

One session: both systems started once, the scenario's jobs submitted once, every case run
in the corpus's order; at the end, the summary table (report.py)."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ENABLED = os.environ.get("HPCQ_CONFORMANCE") == "1"
if not ENABLED:
    collect_ignore_glob = ["test_*.py"]

from tests.conformance import report, systems  # noqa: E402
from tests.conformance.scenario import Scenario  # noqa: E402

STARTED = time.monotonic()
if ENABLED:
    report.start()


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    # Both systems run every case from here: paths in the outputs are the same.
    path = Path(tempfile.mkdtemp(prefix="hpcq-conformance-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def both(workdir: Path) -> Iterator[list[systems.System]]:
    home = Path(tempfile.mkdtemp(prefix="hpcq-cf-"))
    reference = systems.start_slurm(workdir)
    try:
        ours = systems.start_hpcq(home, workdir)
        try:
            yield [reference, ours]
        finally:
            systems.stop_hpcq(ours)
    finally:
        if os.environ.get("HPCQ_CONFORMANCE_KEEP") != "1":
            systems.stop_slurm()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def scenario(both: list[systems.System], workdir: Path) -> Scenario:
    s = Scenario(both, workdir)
    s.start()
    return s


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if report.OUTCOMES:
        terminalreporter.write_line("")
        for line in report.table(report.OUTCOMES, time.monotonic() - STARTED):
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"every outcome: {report.path()}")
        for line in report.unused_entries(report.OUTCOMES):
            terminalreporter.write_line(line)
