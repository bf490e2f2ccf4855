"""End-to-end throughput of trivial jobs (/bin/true), and what each job costs.

In one run, each on a fresh local cluster, with every job confined by noded (cgroups
where the host has them) and without, through 1 and through 4 noded:

- an array of 1,000 tasks, an array of 10,000 tasks, and 1,000 single SDK submits:
  jobs/s from the submit to the last end (target 1,000), the CPU each kind of process
  spent per job (ctld, noded, their launchers, this client, and the rest: supervisors and
  the jobs themselves), p50/p99 submit->start of the single submits, ctld's RSS;
- on an idle cluster, 200 single jobs one after another: p50/p99 submit->start (target
  p50 <= 5 ms);
- a held array of 1,000,000 tasks: accepted, still all there after ctld is killed and
  started again, and ctld's RSS before and after (target <= 500 MB);
- when the reference Slurm of shared/anchors/slurm/up.sh answers here, the same 1,000-task
  array on it, and the ratio.

`--quick` divides every count by 20, to try the script itself.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import cpu_group
from hpcq import config, states
from hpcq.api import jobs_pb2
from hpcq.client import Client
from hpcq.errors import HpcqError
from hpcq.testing import Cluster, local_cluster

TARGET = 1000.0
LATENCY_TARGET_MS = 5.0
RSS_TARGET_MB = 500.0
SLURM = "/usr/bin/sbatch"
# Arrays beyond Slurm's default limits (size, jobs a user may have queued) are what this
# bench is about.
SETTINGS = ("ctld.max_array_size=1000001", "ctld.max_pending_jobs=1000001")


def spec(workdir: str, *, tasks: str = "", hold: bool = False) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM, name="true", script="#!/bin/true\n",
                            submit_dir=workdir, stdout_path="/dev/null", hold=hold,
                            array=jobs_pb2.ArraySpec(tasks=tasks) if tasks else None)


class Ends:
    """Every job end the cluster reports, from one Watch held open for the whole run:
    array tasks by (array id, index), other jobs by id."""

    def __init__(self, client: Client) -> None:
        self._ended: dict[tuple[int, int], jobs_pb2.Job] = {}
        self._changed = threading.Condition()
        self._subscribed = threading.Event()
        threading.Thread(target=self._follow, args=(client,), daemon=True).start()

    def _follow(self, client: Client) -> None:
        with contextlib.suppress(HpcqError):   # the cluster stopped under it: the run is over
            self._record(client)

    def _record(self, client: Client) -> None:
        for job in client.watch((), send_initial=False):
            self._subscribed.set()
            if states.is_finished(job.state):
                key = (job.array_job_id, job.array_task_id) if job.HasField("array_task_id") else (job.id, -1)
                with self._changed:
                    self._ended[key] = job
                    self._changed.notify_all()

    def subscribe(self, client: Client, workdir: str) -> None:
        """Return once the Watch is live: a probe job's events reach it."""
        deadline = time.monotonic() + 30
        while True:
            client.cancel(client.submit([spec(workdir, hold=True)]))
            if self._subscribed.wait(1.0):
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the Watch never became live")

    def wait(self, keys: Iterable[tuple[int, int]], timeout: float = 3600) -> list[jobs_pb2.Job]:
        wanted = set(keys)
        deadline = time.monotonic() + timeout
        with self._changed:
            while not wanted <= self._ended.keys():
                if not self._changed.wait(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"{len(wanted - self._ended.keys())} jobs still not ended")
            return [self._ended[k] for k in wanted]


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


def cpu_per_job(before: dict[str, float], after: dict[str, float], jobs: int) -> str:
    spent = {k: after[k] - before[k] for k in before}
    rest = spent["all"] - sum(v for k, v in spent.items() if k != "all")
    parts = [f"{k} {v * 1000 / jobs:.2f}" for k, v in spent.items() if k != "all"]
    return f"    CPU ms per job: {' · '.join(parts)} · supervisors+jobs {rest * 1000 / jobs:.2f} = " \
           f"{spent['all'] * 1000 / jobs:.2f} in all"


def ctld_rss_mb(cluster: Cluster) -> float:
    return psutil.Process(int((cluster.home / "run" / "ctld.pid").read_text())).memory_info().rss / 2**20


def percentiles_ms(delays: list[float]) -> str:
    cuts = statistics.quantiles(delays, n=100, method="inclusive")
    return f"p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms"


def run_array(client: Client, ends: Ends, workdir: str, tasks: int) -> list[jobs_pb2.Job]:
    [array_id] = client.submit([spec(workdir, tasks=f"0-{tasks - 1}")])
    return ends.wait((array_id, i) for i in range(tasks))


def run_singles(client: Client, ends: Ends, workdir: str, count: int) -> list[jobs_pb2.Job]:
    ids = [client.submit_one(spec(workdir)) for _ in range(count)]
    return ends.wait((i, -1) for i in ids)


def workloads(cluster: Cluster, total: Callable[[], float] | None, workdir: str, scale: int) -> dict[str, float]:
    rates = {}
    with Client.from_config(config.load(cluster.home / "hpcq.toml"), use_agent=False) as client:
        ends = Ends(client)
        ends.subscribe(client, workdir)
        for label, count, run in ((f"array of {1000 // scale:,}", 1000 // scale, run_array),
                                  (f"array of {10000 // scale:,}", 10000 // scale, run_array),
                                  (f"{1000 // scale:,} single submits", 1000 // scale, run_singles)):
            before = cpu_seconds(cluster.home, total)
            started = time.perf_counter()
            jobs = run(client, ends, workdir, count)
            rate = rates[label] = count / (time.perf_counter() - started)
            after = cpu_seconds(cluster.home, total)
            failed = sum(j.state != jobs_pb2.COMPLETED for j in jobs)
            print(f"  {label:<22} {rate:8.1f} jobs/s end to end   (target {TARGET:g}: ratio {rate / TARGET:.2f})"
                  + (f"   {failed} did not complete" if failed else ""))
            print(cpu_per_job(before, after, count))
            if run is run_singles:
                print(f"    submit->start {percentiles_ms([j.start_time - j.submit_time for j in jobs])}")
            print(f"    ctld RSS {ctld_rss_mb(cluster):.0f} MB")
    return rates


def idle_latency(workdir: str, count: int) -> None:
    with local_cluster(nodes=1, cpus=0, settings=SETTINGS) as cluster, \
            Client.from_config(config.load(cluster.home / "hpcq.toml"), use_agent=False) as client:
        delays = []
        for _ in range(count):
            job_id = client.submit_one(spec(workdir))
            [job] = client.wait([job_id], timeout=60)
            delays.append(job.start_time - job.submit_time)
        p50 = statistics.median(delays) * 1000
        print(f"idle cluster, {count} jobs one after another: submit->start {percentiles_ms(delays)}"
              f"   (target p50 <= {LATENCY_TARGET_MS:g} ms: ratio {p50 / LATENCY_TARGET_MS:.2f})")


def million_task_array(workdir: str, tasks: int) -> None:
    with local_cluster(nodes=1, cpus=2, settings=SETTINGS) as cluster, \
            Client.from_config(config.load(cluster.home / "hpcq.toml"), use_agent=False) as client:
        rss_idle = ctld_rss_mb(cluster)
        started = time.perf_counter()
        [array_id] = client.submit([spec(workdir, tasks=f"0-{tasks - 1}", hold=True)])
        accepted = time.perf_counter() - started
        rss = ctld_rss_mb(cluster)
        os.kill(int((cluster.home / "run" / "ctld.pid").read_text()), signal.SIGKILL)
        restart = time.perf_counter()
        cluster.run("hpcqctl", "up", "--nodes", "1", "--cpus", "2", timeout=600)
        restarted = time.perf_counter() - restart
        [job], _ = client.get([array_id])
        kept = job.state == jobs_pb2.HELD and job.array_tasks_pending == f"0-{tasks - 1}"
        rss_after = ctld_rss_mb(cluster)
        worst = max(rss, rss_after)
        print(f"held array of {tasks:,} tasks: accepted in {accepted:.2f} s; ctld RSS {rss_idle:.0f} MB idle, "
              f"{rss:.0f} MB with it, {rss_after:.0f} MB after a kill -9 and a start ({restarted:.1f} s); "
              f"all tasks still pending: {'yes' if kept else 'NO'}   "
              f"(target <= {RSS_TARGET_MB:g} MB: ratio {worst / RSS_TARGET_MB:.2f})")


def slurm_array(tasks: int) -> float | None:
    """The same array on the reference Slurm, if it answers here: jobs/s end to end."""
    if not os.access(SLURM, os.X_OK) or subprocess.run(["/usr/bin/scontrol", "ping"], capture_output=True,
                                                       text=True, timeout=10).stdout.count("UP") == 0:
        return None
    workdir = tempfile.mkdtemp(prefix="hpcq-bench-slurm.")
    started = time.perf_counter()
    job_id = subprocess.run([SLURM, "--parsable", f"--array=0-{tasks - 1}", "-o", "/dev/null", "--wrap", "true"],
                            capture_output=True, text=True, check=True, cwd=workdir).stdout.strip().split(";")[0]
    while subprocess.run(["/usr/bin/squeue", "-h", "-r", "-j", job_id], capture_output=True,
                         text=True).stdout.strip():
        time.sleep(0.5)   # Slurm has no event stream to wait on; its own squeue is the clock
    shutil.rmtree(workdir, ignore_errors=True)
    return tasks / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="every count divided by 20")
    args = parser.parse_args()
    scale = 20 if args.quick else 1
    workdir = tempfile.mkdtemp(prefix="hpcq-bench-tp.")
    rates: dict[tuple[bool, int, str], float] = {}
    for confined in (True, False):
        for nodes in (1, 4):
            settings = (*SETTINGS, f"noded.confine_jobs={'true' if confined else 'false'}")
            with cpu_group() as total, local_cluster(nodes=nodes, cpus=0, settings=settings) as cluster:
                if total is None:
                    print("(no cgroup of our own: 'supervisors+jobs' is the rest of the machine, other work included)")
                with Client.from_config(config.load(cluster.home / "hpcq.toml"), use_agent=False) as client:
                    enforcement = client.nodes()[0].hardware.enforcement
                print(f"-- jobs confined: {'yes' if confined else 'no'} (nodes: {enforcement or 'none'}), "
                      f"{nodes} noded")
                for label, rate in workloads(cluster, total, workdir, scale).items():
                    rates[(confined, nodes, label)] = rate
    for (confined, nodes, label), on in rates.items():
        if confined:
            off = rates[(False, nodes, label)]
            print(f"{label:<22} {nodes} noded: confined/unconfined {on / off:.2f}")
    idle_latency(workdir, 200 // scale)
    million_task_array(workdir, 1_000_000 // scale)
    tasks = 1000 // scale
    slurm = slurm_array(tasks)
    if slurm is None:
        print("reference Slurm not running here (shared/anchors/slurm/up.sh): no side-by-side figure")
    else:
        ours = rates[(True, 1, f"array of {tasks:,}")]
        print(f"array of {tasks:,} on Slurm 22.05: {slurm:.1f} jobs/s; hpcq (confined, 1 noded) {ours:.1f} "
              f"jobs/s: {ours / slurm:.1f}x")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
