"""Timing helpers for the benchmarks, which run on hpcq.testing.local_cluster()."""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from hpcq.testing import commands_dir

BIN = str(commands_dir())
ROOT = Path(__file__).resolve().parent.parent


def compile_bytecode() -> None:
    """Compile hpcq as `make bytecode` does: a command timed while it recompiles the
    modules it imports (PYTHONDONTWRITEBYTECODE, or sources newer than their .pyc)
    measures the compiler, not hpcq."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "hpcq")], check=True, capture_output=True)


@contextmanager
def cpu_group():
    """Count the CPU of this process and of everything it starts from now on (daemons,
    their forks, jobs), reaped by us or not, and of nothing else on the machine: a cgroup
    (v2, or v1 cpuacct) of its own. Yields a function giving CPU seconds so far, or None
    where no cgroup can be made (not root): callers then fall back to machine-wide figures."""
    mounts = [line.split() for line in Path("/proc/self/mounts").read_text().splitlines()]
    roots = [(Path(m[1]), "cpu.stat") for m in mounts if m[2] == "cgroup2"]
    roots += [(Path(m[1]), "cpuacct.usage") for m in mounts if m[2] == "cgroup" and "cpuacct" in m[3].split(",")]
    for root, counter in roots:  # noqa: B007 - the pair the loop stops at is the one used below
        group = root / f"hpcq-bench.{os.getpid()}"
        try:
            group.mkdir()
            (group / "cgroup.procs").write_text(str(os.getpid()))
        except OSError:
            if group.exists():
                group.rmdir()
            continue
        break
    else:
        yield None
        return

    def seconds() -> float:
        text = (group / counter).read_text()
        if counter == "cpu.stat":  # usage_usec 123...
            return int(text.split()[1]) / 1e6
        return int(text) / 1e9
    try:
        yield seconds
    finally:
        (root / "cgroup.procs").write_text(str(os.getpid()))
        for _ in range(50):  # daemons that were just stopped may take a moment to go
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def time_command(argv: list[str], env: dict, runs: int = 30, cwd: str | None = None, input: str | None = None,
                 warmup: int = 3) -> list[float]:
    """Wall times of `runs` runs, after `warmup` untimed ones (a just-started cluster's
    first calls, and cold caches, are not what a command costs)."""
    samples = []
    for i in range(warmup + runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True, input=input, text=True)
        if i >= warmup:
            samples.append(time.perf_counter() - started)
    return samples
