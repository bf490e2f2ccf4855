"""End-to-end throughput: 2,000 jobs of /bin/true through a local cluster of 4 noded,
with every job confined by noded (cgroups, where the host has them) and without.

Two runs: 2,000 single Submits through the SDK, and the same 2,000 jobs in one batched
Submit (the stand-in for one array until arrays land). Each prints jobs/s from the first
submit to the last job's end, beside the target (200 jobs/s) and real Slurm's figure on
this machine (12 jobs/s default, 24 tuned; shared/anchors/slurm/README.md).

Under each figure, the CPU each kind of process spent per job (ms): ctld, the noded,
their launchers, this client, and the rest: the supervisors and the jobs themselves
(counted in a cgroup of the benchmark's own when one can be made; else the rest of the
machine, whatever else runs meanwhile included). At 200 jobs/s on 2 cores all of it
together may be at most ~10 ms.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import cpu_group
from hpcq import config, states
from hpcq.api import jobs_pb2
from hpcq.client import Client
from hpcq.testing import local_cluster

JOBS = 2000
TARGET = 200.0
SLURM_DEFAULT = 12.0


def spec(workdir: str) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM, name="true", script="#!/bin/true\n",
                            submit_dir=workdir, stdout_path="/dev/null")


def cpu_seconds(home: Path, total: Callable[[], float] | None) -> dict[str, float]:
    """CPU (user + system) so far of each kind of process, and of all (`total`, else the machine)."""
    groups = {"ctld": 0.0, "noded": 0.0, "launchers": 0.0, "client": 0.0}
    for pid_file in (home / "run").glob("*.pid"):
        daemon = pid_file.stem
        try:
            process = psutil.Process(int(pid_file.read_text()))
            kinds = [("ctld" if daemon == "ctld" else "noded" if daemon.startswith("node") else "", process)]
            kinds += [("launchers", child) for child in process.children()] if daemon.startswith("node") else []
            for kind, p in kinds:
                if kind:
                    t = p.cpu_times()
                    groups[kind] += t.user + t.system
        except (psutil.Error, ValueError):
            pass
    me = os.times()
    groups["client"] = me.user + me.system
    if total is not None:
        groups["all"] = total()
    else:
        machine = psutil.cpu_times()
        groups["all"] = machine.user + machine.system + machine.nice + machine.irq + machine.softirq
    return groups


def cpu_per_job(before: dict[str, float], after: dict[str, float]) -> str:
    spent = {k: after[k] - before[k] for k in before}
    rest = spent["all"] - sum(v for k, v in spent.items() if k != "all")
    parts = [f"{k} {v * 1000 / JOBS:.2f}" for k, v in spent.items() if k != "all"]
    return f"  CPU ms per job: {' · '.join(parts)} · supervisors+jobs {rest * 1000 / JOBS:.2f} = " \
           f"{spent['all'] * 1000 / JOBS:.2f} in all"


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
    rates: dict[tuple[bool, str], float] = {}
    # Each job confined by noded (its cgroup: cores, memory, process tracking), then not:
    # the same two runs on a fresh cluster each, side by side in this one run.
    for confined in (True, False):
        settings = (f"noded.confine_jobs={'true' if confined else 'false'}",)
        with cpu_group() as total, local_cluster(nodes=4, cpus=0, settings=settings) as cluster:  # cpus=0: all
            home = cluster.home
            if total is None:
                print("(no cgroup of our own: 'supervisors+jobs' is the rest of the machine, other work included)")
            with Client.from_config(config.load(home / "hpcq.toml"), use_agent=False) as client:
                enforcement = client.nodes()[0].hardware.enforcement
                print(f"-- jobs confined: {'yes' if confined else 'no'} (nodes: {enforcement or 'none'})")
                for label, batched in (("2,000 single submits", False), ("2,000 jobs in one Submit", True)):
                    before = cpu_seconds(home, total)
                    rate = rates[(confined, label)] = run(client, workdir, batched)
                    after = cpu_seconds(home, total)
                    print(f"{label:<28} {rate:8.1f} jobs/s end to end   target {TARGET:g} (ratio "
                          f"{rate / TARGET:.2f}); real Slurm {SLURM_DEFAULT:g} "
                          f"(hpcq/Slurm {rate / SLURM_DEFAULT:.1f}x)")
                    print(cpu_per_job(before, after))
    for label in ("2,000 single submits", "2,000 jobs in one Submit"):
        on, off = rates[(True, label)], rates[(False, label)]
        print(f"{label:<28} confined/unconfined {on / off:.2f} (cost of confinement {(1 - on / off) * 100:.0f}%; "
              f"target at most 20%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
