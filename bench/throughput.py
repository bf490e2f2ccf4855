"""End-to-end throughput: 2,000 jobs of /bin/true through a local cluster of 4 noded.

Two runs: 2,000 single Submits through the SDK, and the same 2,000 jobs in one batched
Submit (the stand-in for one array until arrays land). Each prints jobs/s from the first
submit to the last job's end, beside the target (200 jobs/s) and real Slurm's figure on
this machine (12 jobs/s default, 24 tuned; shared/anchors/slurm/README.md).
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import local_cluster  # noqa: E402
from hpcq import config, states  # noqa: E402
from hpcq.api import jobs_pb2  # noqa: E402
from hpcq.client import Client  # noqa: E402

JOBS = 2000
TARGET = 200.0
SLURM_DEFAULT = 12.0


def spec(workdir: str) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM, name="true", script="#!/bin/true\n",
                            submit_dir=workdir, stdout_path="/dev/null")


def run(client: Client, workdir: str, batched: bool) -> float:
    started = time.perf_counter()
    ids = client.submit([spec(workdir)] * JOBS) if batched else [client.submit_one(spec(workdir)) for _ in range(JOBS)]
    pending = set(ids)
    for job in client.watch(ids, send_initial=True):
        if states.is_finished(job.state):
            pending.discard(job.id)
            if not pending:
                break
    elapsed = time.perf_counter() - started
    failed = sum(j.state != jobs_pb2.COMPLETED for j in client.get(ids)[0])
    if failed:
        print(f"  ({failed} jobs did not complete)")
    return JOBS / elapsed


def main() -> int:
    workdir = tempfile.mkdtemp(prefix="hpcq-bench-tp.")
    with local_cluster(nodes=4) as (home, _env):
        with Client.from_config(config.load(home / "hpcq.toml"), use_agent=False) as client:
            for label, batched in (("2,000 single submits", False), ("2,000 jobs in one Submit", True)):
                rate = run(client, workdir, batched)
                print(f"{label:<28} {rate:8.1f} jobs/s end to end   target {TARGET:g} (ratio {rate / TARGET:.2f}); "
                      f"real Slurm {SLURM_DEFAULT:g} (hpcq/Slurm {rate / SLURM_DEFAULT:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
