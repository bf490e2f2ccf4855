"""Submit latency under a polling storm: many users' squeue loops against one ctld.

Prints submit p50/p99 (one job per Submit, through the agent as sbatch sends it) on an
idle cluster and while LOOPS squeue loops poll it for SECONDS, and the p99 ratio against
the target (at most 2x idle); and how long another user's squeue takes under the storm.
The queue holds JOBS held jobs, so that each listing has something to carry: another
user's (alice's), as on a shared cluster most of what a user's squeue lists is others'
jobs.

A squeue loop is what ctld sees of one: one List of every unfinished job through the
agent, again as soon as the last one answered, after the pause ctld asks for when it
sheds load (`--processes`: the real squeue command instead, which on a 2-core machine
measures the commands' own start-up more than ctld).
The agent's per-user rate limit is lifted, as many users' loops would not meet it.

    python bench/storm.py [--loops 200] [--seconds 30] [--jobs 2000] [--processes]
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from hpcq import config, pki
from hpcq.api import jobs_pb2
from hpcq.client import Client
from hpcq.errors import HpcqError
from hpcq.testing import local_cluster
from hpcq.transport import AgentTransport, GrpcTransport, Retrying

TARGET_RATIO = 2.0
THREADS_PER_PROCESS = 25   # storm loops share a process; more processes than cores only adds switching


def spec(workdir: str) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM, name="storm", script="#!/bin/sh\ntrue\n",
                            submit_dir=workdir, hold=True)


def submit_latencies(clients: dict[str, Client], workdir: str, count: int,
                     until: float = 0.0) -> dict[str, list[float]]:
    """Seconds per single-job Submit by each client in turn: `count` each, or as many as
    fit before `until`."""
    samples: dict[str, list[float]] = {path: [] for path in clients}
    while min(map(len, samples.values())) < count or (until and time.monotonic() < until):
        for path, client in clients.items():
            started = time.perf_counter()
            client.submit([spec(workdir)])
            samples[path].append(time.perf_counter() - started)
        if until and time.monotonic() >= until:
            break
        time.sleep(0.02)   # a user's submits, not a flood: the storm is the load here
    return samples


def list_latencies(home: Path, cfg: config.Config, until: float, results: multiprocessing.Queue) -> None:
    """Seconds per List (squeue's: every unfinished job) by another user (erin), one every
    0.2 s until `until`: how long a user outside the storm waits for their squeue. In a
    process of its own: parsing a listing holds the interpreter lock for milliseconds,
    which the submits timed in the bench's process would wait for."""
    samples = []
    with other_user(home, cfg, "erin") as erin:
        while time.monotonic() < until:
            started = time.perf_counter()
            erin.list()
            samples.append(time.perf_counter() - started)
            time.sleep(0.2)
    results.put(samples)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ctld_submit_seconds(port: int) -> tuple[float, int, dict[float, int]]:
    """(seconds, calls, calls by histogram bucket) of the Submits ctld has answered OK, from
    its metrics endpoint."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    found, buckets = {}, {}
    for line in text.splitlines():
        if line.startswith("hpcq_rpc_duration_seconds_") and 'method="Submit"' in line and 'code="OK"' in line:
            kind = line.split("{")[0].rsplit("_", 1)[1]
            if kind == "bucket":
                buckets[float(line.partition('le="')[2].partition('"')[0])] = int(float(line.rsplit(" ", 1)[1]))
            else:
                found[kind] = float(line.rsplit(" ", 1)[1])
    return found.get("sum", 0.0), int(found.get("count", 0)), buckets


def bucket_p99(before: dict[float, int], after: dict[float, int]) -> float:
    """The upper bound (ms) of the histogram bucket holding the 99th percentile of the calls between two reads."""
    calls = {le: after[le] - before.get(le, 0) for le in sorted(after)}
    total = calls[max(calls)]
    return next((le * 1000 for le, n in calls.items() if n >= 0.99 * total), float("inf"))


def other_user(home: Path, cfg: config.Config, name: str) -> Client:
    """A client of another user (a certificate from the cluster's CA), straight to ctld."""
    people = home / "pki" / "people"
    pki.issue(home / "pki", "user", name, people)
    return Client(GrpcTransport(cfg.client.server, ca=cfg.client.ca, cert=people / f"{name}.crt",
                                key=people / f"{name}.key"), timeout=60)


def _rpc_loops(socket: str, threads: int, until: float, counts: multiprocessing.Queue, niceness: int) -> None:
    """One process of the storm: `threads` loops, each a List through the agent after the other."""
    os.nice(niceness)
    done = [0, 0]   # lists answered, refused (shed or failed)
    lock = threading.Lock()

    request = jobs_pb2.ListJobsRequest().SerializeToString()   # squeue's: every unfinished job

    def loop() -> None:
        # The answer is not parsed: squeue's own parsing runs on the users' login nodes, not
        # on ctld's host, which is the one being measured here.
        transport, retrying = AgentTransport(socket), Retrying(60)
        while time.monotonic() < until:
            try:
                retrying.call(lambda: transport.unary("/hpcq.v1.Jobs/List", request, 60), repeatable=True)
                index = 0
            except HpcqError:
                index = 1
            with lock:
                done[index] += 1
        transport.close()
    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    counts.put(tuple(done))


def _process_loops(env: dict[str, str], loops: int, until: float) -> tuple[int, int]:
    done = [0, 0]
    lock = threading.Lock()

    def loop() -> None:
        while time.monotonic() < until:
            ok = subprocess.run(["squeue"], env=env, capture_output=True).returncode == 0
            with lock:
                done[0 if ok else 1] += 1
    workers = [threading.Thread(target=loop) for _ in range(loops)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return done[0], done[1]


def percentile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=1000,
                        help="idle submits timed by each client (a p99 of a few hundred rests on its last few)")
    parser.add_argument("--processes", action="store_true", help="real squeue commands instead of List calls")
    parser.add_argument("--storm-nice", type=int, default=0, metavar="N",
                        help="run the storm's client processes at this niceness: on a real cluster they run on "
                             "login nodes, not on ctld's host, and this keeps their own CPU from being measured")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="a setting of the cluster's (e.g. ctld.reads_busy_share=0.3), to compare")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="hpcq-bench-work.")
    metrics_port = free_port()
    settings = ("agent.rate=1000000", "agent.burst=1000000", f"ctld.metrics_listen=127.0.0.1:{metrics_port}",
                *args.set)
    with local_cluster(nodes=2, cpus=2, settings=settings, activate=False) as cluster:
        cfg = config.load(cluster.home / "hpcq.toml")
        socket = str(cluster.home / "run" / "agent.sock")
        with other_user(cluster.home, cfg, "alice") as alice:
            for start in range(0, args.jobs, 1000):
                alice.submit([spec(workdir)] * min(1000, args.jobs - start))
        # The storm's loops share this host's agent; a user on another login node submits
        # through an agent of their own, whose latency the direct path shows.
        with Client.from_config(cfg) as agent, other_user(cluster.home, cfg, "dave") as direct:
            clients = {"through the agent": agent, "direct (certificate)": direct}
            submit_latencies(clients, workdir, 20)   # warm-up
            in_ctld = [ctld_submit_seconds(metrics_port)]
            idle = submit_latencies(clients, workdir, args.samples)
            in_ctld.append(ctld_submit_seconds(metrics_port))
            daemons = {name: psutil.Process(int((cluster.home / "run" / f"{name}.pid").read_text()))
                       for name in ("ctld", "agent")}
            cpu_before = {name: sum(p.cpu_times()[:2]) for name, p in daemons.items()}
            until = time.monotonic() + args.seconds
            counts: multiprocessing.Queue[tuple[int, int]] = multiprocessing.Queue()
            storm: list[multiprocessing.Process] = []
            answered = refused = 0
            if args.processes:
                result: list[tuple[int, int]] = []
                runner = threading.Thread(target=lambda: result.append(_process_loops(cluster.env, args.loops, until)))
                runner.start()
            else:
                for first in range(0, args.loops, THREADS_PER_PROCESS):
                    p = multiprocessing.Process(target=_rpc_loops, args=(
                        socket, min(THREADS_PER_PROCESS, args.loops - first), until, counts, args.storm_nice))
                    p.start()
                    storm.append(p)
            time.sleep(min(2.0, args.seconds / 4))   # the storm at full strength before timing
            lists: multiprocessing.Queue[list[float]] = multiprocessing.Queue()
            lister = multiprocessing.Process(target=list_latencies, args=(cluster.home, cfg, until, lists))
            lister.start()
            stormy = submit_latencies(clients, workdir, 1, until=until)
            erins_lists = lists.get()
            lister.join()
            if args.processes:
                runner.join()
                answered, refused = result[0]
            else:
                for _ in storm:
                    a, r = counts.get()
                    answered, refused = answered + a, refused + r
                for p in storm:
                    p.join()
            cpu = {name: sum(p.cpu_times()[:2]) - cpu_before[name] for name, p in daemons.items()}
            in_ctld.append(ctld_submit_seconds(metrics_port))
    print(f"machine: {multiprocessing.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end "
          "(other work on the machine inflates every figure)")
    kind = "squeue processes" if args.processes else "List loops through the agent"
    print(f"storm: {args.loops} {kind} for {args.seconds:g} s over {args.jobs} queued jobs: "
          f"{answered / args.seconds:.0f} lists/s answered, {refused} refused or failed; CPU seconds used: "
          + ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items()))
    print(f"{'submit latency (ms)':<44} {'p50':>8} {'p99':>8} {'n':>6}")
    for path in idle:
        for label, samples in (("idle", idle[path]), ("under storm", stormy[path])):
            print(f"{path + ', ' + label:<44} {percentile(samples, 50):>8.1f} {percentile(samples, 99):>8.1f} "
                  f"{len(samples):>6}")
    if len(erins_lists) >= 2:
        print(f"another user's squeue (List, direct) under storm: p50 {percentile(erins_lists, 50):.0f} ms, "
              f"p99 {percentile(erins_lists, 99):.0f} ms, n {len(erins_lists)}")
    (s0, n0, b0), (s1, n1, b1), (s2, n2, b2) = in_ctld
    print(f"ctld's own time per Submit (its hpcq_rpc_duration_seconds): idle {(s1 - s0) / (n1 - n0) * 1000:.1f} ms "
          f"mean, p99 at most {bucket_p99(b0, b1):g} ms; under storm {(s2 - s1) / max(1, n2 - n1) * 1000:.1f} ms mean, "
          f"p99 at most {bucket_p99(b1, b2):g} ms")
    for path in idle:
        ratio = percentile(stormy[path], 99) / percentile(idle[path], 99)
        print(f"p99 under storm / idle, {path}: {ratio:.2f}x (target at most {TARGET_RATIO:g}x: "
              f"{'met' if ratio <= TARGET_RATIO else 'not met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
