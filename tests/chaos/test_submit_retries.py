"""Chaos: sbatch loops while hpcq-ctld is killed with SIGKILL and restarted, on SQLite and
PostgreSQL. No invocation fails (each retries until ctld is back, saying so once), and
every job is stored and runs exactly once. bench/retries.py runs the same with 2,000."""
from __future__ import annotations

import pytest

from bench.retries import submit_through_kills

pytestmark = pytest.mark.integration


def test_sbatch_loops_ride_out_three_ctld_kills(make_cluster, workdir):
    cluster = make_cluster(cpus=4)
    outcome = submit_through_kills(cluster, workdir, submits=200, loops=4, kills=3, nodes=2, cpus=4)
    print(f"\n[chaos] sbatch through ctld kill -9 x3: {outcome.figures()}")
    assert [i.stderr for i in outcome.failed] == []
    assert len(outcome.invocations) == 200
    assert outcome.unexpected_stderr == []
    assert outcome.retried > 0, "no sbatch met a dead ctld: the kills missed the loops"
    assert outcome.lost == [] and outcome.duplicated == []
    assert outcome.stored == 200
    assert len({i.job_id for i in outcome.invocations}) == 200
