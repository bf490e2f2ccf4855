"""A throw-away local cluster for benchmarks, and small timing helpers."""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

BIN = str(Path(sys.executable).parent)


@contextmanager
def local_cluster(nodes: int = 2, cpus: int = 0):
    home = Path(tempfile.mkdtemp(prefix="hpcq-bench."))
    env = {**os.environ, "HPCQ_HOME": str(home), "PATH": f"{BIN}:{os.environ['PATH']}"}
    env.pop("HPCQ_CONF", None)
    argv = ["hpcqctl", "up", "--nodes", str(nodes)] + (["--cpus", str(cpus)] if cpus else [])
    subprocess.run(argv, env=env, check=True, capture_output=True)
    os.environ["HPCQ_HOME"] = str(home)
    try:
        yield home, env
    finally:
        subprocess.run(["hpcqctl", "down"], env=env, capture_output=True)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def time_command(argv: list[str], env: dict, runs: int = 30, cwd: str | None = None, input: str | None = None) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True, input=input, text=True)
        samples.append(time.perf_counter() - started)
    return samples
