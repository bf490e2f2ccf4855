"""One scheduling pass of the pure scheduler on a synthetic cluster; prints figures, never pass/fail.

1,000 nodes (900 CPU nodes of 32 cores, 100 GPU nodes with 4 GPUs, half of each
with a feature), three queues, running jobs filling ~98 % of the cores with
walltimes ending over the next day, and 10^3, 10^4, 10^5 pending jobs: mixed sizes
(one core to eight whole nodes, some GPUs, some exclusive, some licenses), 1,000
users in 50 accounts with fair-share usage, 10 % with dependencies, 1 % arrays of
10-2,000 tasks. Prints pass time (median of 3), peak traced memory, decisions, and
the time growth against n log n relative to the smallest size; then a pass over one
array of 10^5 pending tasks against a pass over one pending job (their ratio).

    python bench/sched.py [--sizes 1000,10000,100000] [--reservations 1]
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hpcq.ctld.scheduler import (
    ArrayTasks,
    Dependencies,
    IndexSet,
    JobRequest,
    Kind,
    NodeCapacity,
    Phase,
    QueuePolicy,
    Reserve,
    RunningJob,
    SetReason,
    Shares,
    Slice,
    Snapshot,
    Start,
    Target,
    Term,
    Usage,
    schedule,
)

NOW = 1_000_000.0
NODES = 1000
USERS = [f"u{i:04d}" for i in range(1000)]
ACCOUNT = {u: f"acct{i % 50:02d}" for i, u in enumerate(USERS)}
WALLTIMES = [600, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600]


def cluster(rng: random.Random) -> tuple[tuple[NodeCapacity, ...], tuple[RunningJob, ...]]:
    nodes, running = [], []
    job_id = 1
    for i in range(NODES):
        gpu = i >= 900
        name = f"{'g' if gpu else 'c'}{i:04d}"
        cpus, mem, gpus = 32, (256_000 if gpu else 128_000), (4 if gpu else 0)
        used_c = used_m = used_g = 0
        while used_c < cpus - 1 and rng.random() < 0.97:
            c = min(rng.choice([1, 2, 4, 8, 16]), cpus - used_c)
            m = c * 2000
            g = 1 if gpu and used_g < gpus and rng.random() < 0.5 else 0
            start = NOW - rng.uniform(0, 3600)
            wall = rng.choice(WALLTIMES)
            if start + wall <= NOW:
                wall = int(NOW - start) + rng.choice(WALLTIMES)
            user = rng.choice(USERS)
            running.append(RunningJob(job_id, user, "gpu" if gpu else "batch", start, wall,
                                      (Slice(name, c, m, g),), ACCOUNT[user], f"run{job_id % 97}"))
            job_id += 1
            used_c, used_m, used_g = used_c + c, used_m + m, used_g + g
        nodes.append(NodeCapacity(name, cpus, cpus - used_c, mem, mem - used_m, gpus, gpus - used_g,
                                  frozenset({"avx512"}) if i % 2 else frozenset(), idle=used_c == 0))
    return tuple(nodes), tuple(running)


def pending(rng: random.Random, n: int, first_id: int, running: tuple[RunningJob, ...]) -> tuple[JobRequest, ...]:
    jobs = []
    ids = list(range(first_id, first_id + n))
    running_ids = [r.id for r in running]
    for k, job_id in enumerate(ids):
        user = rng.choice(USERS)
        r = rng.random()
        queue, nodes, cpus, gpus, exclusive = "batch", 1, 1, 0, False
        if r < 0.55:
            cpus = rng.choice([1, 1, 2, 4])
        elif r < 0.80:
            cpus = rng.choice([8, 16, 32])
        elif r < 0.90:
            nodes, cpus = rng.choice([2, 4, 8]), 32
        elif r < 0.95:
            queue, cpus, gpus = "gpu", rng.choice([4, 8]), rng.choice([1, 2, 4])
        elif r < 0.98:
            queue, cpus = "short", rng.choice([1, 2])
        else:
            exclusive = True
        dependency = None
        if rng.random() < 0.10:
            kind = rng.choice([Kind.AFTER_OK, Kind.AFTER_ANY, Kind.AFTER, Kind.AFTER_NOT_OK])
            target = rng.choice(running_ids) if rng.random() < 0.5 or k == 0 else rng.choice(ids[:k])
            dependency = Dependencies((Term(kind, (Target(target),)),), any_of=False)
        array = None
        if rng.random() < 0.01:
            array = ArrayTasks(IndexSet.range(1, rng.choice([10, 100, 2000])), rng.choice([0, 5, 50]))
        features = frozenset({"avx512"}) if rng.random() < 0.1 else frozenset()
        licenses = {"matlab": 1} if rng.random() < 0.02 else {}
        jobs.append(JobRequest(job_id, user, queue, NOW - rng.uniform(0, 5 * 86400), ACCOUNT[user], f"j{job_id % 50}",
                               nodes, cpus, cpus * 2000, gpus, rng.choice(WALLTIMES), exclusive, features,
                               licenses=licenses, nice=rng.choice([0, 0, 0, 100]), dependency=dependency,
                               array=array))
    return tuple(jobs)


def snapshot(n: int, reservations: int, seed: int = 1) -> Snapshot:
    rng = random.Random(seed)
    nodes, running = cluster(rng)
    jobs = pending(rng, n, len(running) + 1, running)
    phases = {Target(r.id): Phase.RUNNING for r in running}
    phases.update({Target(j.id): Phase.WAITING for j in jobs})
    usage = Usage(epoch=NOW)
    for user in USERS:
        usage = usage.charge(user, ACCOUNT[user], rng.uniform(0, 1e6), rng.uniform(0, 1e4), now=NOW - 86400)
    queues = {"batch": QueuePolicy("batch", frozenset(x.name for x in nodes if x.name.startswith("c")), priority=1),
              "gpu": QueuePolicy("gpu", frozenset(x.name for x in nodes if x.name.startswith("g")), priority=1),
              "short": QueuePolicy("short", None, priority=2, max_running_per_user=2)}
    return Snapshot(jobs, nodes, queues, running, {"matlab": 20}, phases, usage=usage,
                    shares=Shares({f"acct{i:02d}": 1 + i % 3 for i in range(50)}), reservations=reservations)


def array_against_one_job(tasks: int, reservations: int, runs: int) -> None:
    """A pass over one array of `tasks` pending tasks beside a pass over one pending job,
    on the same busy cluster: an array stays one request until its tasks start."""
    rng = random.Random(2)
    nodes, running = cluster(rng)
    phases = {Target(r.id): Phase.RUNNING for r in running}
    first = len(running) + 1
    job = JobRequest(first, USERS[0], "batch", NOW - 60, ACCOUNT[USERS[0]], "one", 1, 1, 2000, 0, 600, False,
                     frozenset())
    array = JobRequest(first + 1, USERS[1], "batch", NOW - 60, ACCOUNT[USERS[1]], "array", 1, 1, 2000, 0, 600,
                       False, frozenset(), array=ArrayTasks(IndexSet.range(0, tasks - 1), 0))
    queues = {"batch": QueuePolicy("batch", None, priority=1)}
    full = tuple(dataclasses.replace(n, cpus_free=0, idle=False, free_cpu_ids=()) for n in nodes)
    for world, world_nodes in (("every CPU taken", full), ("the CPUs free now", nodes)):
        seconds = {}
        for label, pending_jobs in (("one job", (job,)), (f"array of {tasks:,}", (array,))):
            snap = Snapshot(pending_jobs, world_nodes, queues, running, {}, phases, reservations=reservations)
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                decisions = schedule(snap, NOW)
                times.append(time.perf_counter() - started)
            seconds[label] = statistics.median(times)
            starts = sum(1 for d in decisions if isinstance(d, Start))
            print(f"  {world + ':':<19} {label:<18} pass {seconds[label] * 1000:8.2f} ms, {starts} started")
        print(f"  {world + ':':<19} array/one job {seconds[f'array of {tasks:,}'] / seconds['one job']:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--reservations", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--array-tasks", type=int, default=100_000,
                    help="the array set against one job (0: leave that comparison out)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"scheduler pass: {NODES} nodes, reservations={args.reservations}, python {sys.version.split()[0]}")
    print(f"{'pending':>8} {'running':>8} {'pass ms':>9} {'peak MiB':>9} {'starts':>7} {'reserves':>8} "
          f"{'reasons':>8} {'ms/1k jobs':>10} {'growth/nlogn':>13}")
    base: tuple[int, float] | None = None
    for n in sizes:
        snap = snapshot(n, args.reservations)
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            decisions = schedule(snap, NOW)
            times.append(time.perf_counter() - started)
        seconds = statistics.median(times)
        tracemalloc.start()
        schedule(snap, NOW)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        counts = {kind: sum(1 for d in decisions if isinstance(d, kind)) for kind in (Start, Reserve, SetReason)}
        if base is None:
            base = (n, seconds)
            growth = "1.00 (ref)"
        else:
            n0, t0 = base
            growth = f"{(seconds / t0) / ((n * math.log(n)) / (n0 * math.log(n0))):.2f}"
        print(f"{n:>8} {len(snap.running):>8} {seconds * 1000:>9.1f} {peak / 2**20:>9.1f} {counts[Start]:>7} "
              f"{counts[Reserve]:>8} {counts[SetReason]:>8} {seconds * 1e6 / n:>10.1f} {growth:>13}")
    if args.array_tasks:
        print(f"one pending array of {args.array_tasks:,} tasks against one pending job, {NODES} busy nodes:")
        array_against_one_job(args.array_tasks, args.reservations, args.runs)


if __name__ == "__main__":
    main()
