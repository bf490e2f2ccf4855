"""Submits through controller crashes: concurrent sbatch loops while hpcq-ctld is killed
with SIGKILL and restarted, on SQLite and on PostgreSQL.

Prints, per store: the invocations, how many failed (the target is 0: the commands
retry until ctld is back), how many said they were retrying, and the jobs lost,
duplicated and never run (each 0). Every job's script appends its invocation's marker
to a ledger, so a job stored or run twice shows there.

    python bench/retries.py [--submits 2000] [--loops 4] [--kills 3] [--store sqlite,postgresql]

tests/chaos/test_submit_retries.py runs the same with 200 submits.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hpcq import config, states
from hpcq.client import Client
from hpcq.testing import Cluster

# What sbatch may print on stderr while it retries (hpcq/shims/connection.py), once.
RETRY_NOTICES = ("sbatch: error: Unable to contact slurm controller (connect failure), retrying",
                 "sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying.")


@dataclass
class Invocation:
    marker: str
    exit_code: int
    job_id: int
    stderr: str


@dataclass
class Outcome:
    invocations: list[Invocation]
    runs: Counter[str]                  # marker -> lines in the ledger (runs of its job)
    stored: int                         # jobs the cluster holds after the storm
    unknown: list[int] = field(default_factory=list)     # ids sbatch printed that ctld does not know
    restart_seconds: list[float] = field(default_factory=list)   # `hpcqctl up` bringing ctld back

    @property
    def failed(self) -> list[Invocation]:
        return [i for i in self.invocations if i.exit_code != 0]

    @property
    def retried(self) -> int:
        return sum(1 for i in self.invocations if i.stderr)

    @property
    def unexpected_stderr(self) -> list[str]:
        """stderr other than one retry notice."""
        return [i.stderr for i in self.invocations
                if i.stderr and (i.stderr.count("\n") > 1 or i.stderr.strip() not in RETRY_NOTICES)]

    @property
    def lost(self) -> list[str]:
        """Acknowledged submits whose job is not stored or never ran."""
        return [i.marker for i in self.invocations if i.exit_code == 0 and self.runs[i.marker] == 0] + \
            [str(j) for j in self.unknown]

    @property
    def duplicated(self) -> list[str]:
        """Markers whose job ran more than once, or that more than one job carried."""
        return [m for m, n in self.runs.items() if n > 1]

    def figures(self) -> str:
        return (f"invocations={len(self.invocations)} failed={len(self.failed)} retried={self.retried} "
                f"stored={self.stored} lost={len(self.lost)} duplicated={len(self.duplicated)} "
                f"restart_seconds={' '.join(f'{s:.1f}' for s in self.restart_seconds)}")


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return value


def kill_ctld(cluster: Cluster) -> None:
    pid = int((cluster.home / "run" / "ctld.pid").read_text())
    os.kill(pid, signal.SIGKILL)

    def gone() -> bool:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        return stat.rpartition(")")[2].split()[0] == "Z"
    _wait(gone, 30, f"ctld (pid {pid}) to die")


def submit_through_kills(cluster: Cluster, workdir: Path, *, submits: int, loops: int, kills: int,
                         nodes: int, cpus: int, finish_timeout: float = 300) -> Outcome:
    """`loops` threads each run sbatch submits/loops times in turn; ctld is killed `kills`
    times, evenly through the run, and restarted once an sbatch has said it is retrying
    (the outage outlasts the agent's own wait for ctld); then every job is waited for."""
    ledger = workdir / "ledger"
    invocations: list[Invocation] = []
    lock = threading.Lock()
    env = {**cluster.env, "HPCQ_RETRY_SECONDS": "60"}

    errors = workdir / "stderr"
    errors.mkdir()

    def loop(n: int) -> None:
        for i in range(submits // loops):
            marker = f"{n}-{i}"
            with open(errors / marker, "w+") as stderr:   # read while it runs: has it said it retries?
                result = subprocess.run(["sbatch", "--parsable", "-o", "/dev/null", "-J", marker,
                                         "--wrap", f"echo {marker} >> '{ledger}'"],
                                        env=env, cwd=workdir, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                        timeout=120)
                stderr.seek(0)
                said = stderr.read()
            job_id = int(result.stdout.split(";")[0]) if result.returncode == 0 else 0
            with lock:
                invocations.append(Invocation(marker, result.returncode, job_id, said))

    def retrying() -> bool:
        """Some sbatch has said it retries: ctld has been down longer than the agent waits for it."""
        return any(p.stat().st_size for p in errors.iterdir())

    threads = [threading.Thread(target=loop, args=(n,)) for n in range(loops)]
    for t in threads:
        t.start()
    restarts = []
    for k in range(kills):
        _wait(lambda k=k: len(invocations) >= (k + 1) * submits // (kills + 1) or
              not any(t.is_alive() for t in threads), 600, f"{(k + 1) * submits // (kills + 1)} submits")
        kill_ctld(cluster)
        _wait(lambda: retrying() or not any(t.is_alive() for t in threads), 60, "an sbatch to retry")
        started = time.monotonic()
        cluster.run("hpcqctl", "up", "--nodes", str(nodes), "--cpus", str(cpus), timeout=120)
        restarts.append(time.monotonic() - started)
    for t in threads:
        t.join()
    ids = [i.job_id for i in invocations if i.exit_code == 0]
    with Client.from_config(config.load(cluster.home / "hpcq.toml")) as client:
        def finished():
            jobs, unknown = client.get(ids)
            return (jobs, unknown) if unknown or all(states.is_finished(j.state) for j in jobs) else None
        _, unknown = _wait(finished, finish_timeout, "every job to finish")
        stored = len(client.list(include_finished=True))
    runs = Counter(ledger.read_text().split()) if ledger.exists() else Counter()
    return Outcome(invocations, runs, stored, unknown, restarts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submits", type=int, default=2000)
    parser.add_argument("--loops", type=int, default=4)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--store", default="sqlite,postgresql")
    args = parser.parse_args()
    import tempfile

    from tests import pgserver
    pg = None
    try:
        for store in args.store.split(","):
            database = ""
            if store == "postgresql":
                if not pgserver.available():
                    print("postgresql: skipped (no initdb/pg_ctl)")
                    continue
                pg = pg or pgserver.PgServer().start()
                database = pg.create_database(f"retries_{os.getpid()}")
            home = Path(tempfile.mkdtemp(prefix="hpcq-"))
            workdir = Path(tempfile.mkdtemp(prefix="hpcq-retries."))
            cluster = Cluster.start(home, nodes=2, cpus=4, database=database)
            try:
                started = time.monotonic()
                outcome = submit_through_kills(cluster, workdir, submits=args.submits, loops=args.loops,
                                               kills=args.kills, nodes=2, cpus=4, finish_timeout=1800)
                print(f"{store}: {outcome.figures()} seconds={time.monotonic() - started:.0f} "
                      f"(target: failed=0 lost=0 duplicated=0)")
            finally:
                cluster.run("hpcqctl", "down", check=False)
    finally:
        if pg is not None:
            pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
