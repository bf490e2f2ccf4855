"""hpcq-noded: the node daemon."""
from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import socket
import sys
from pathlib import Path

from hpcq import config as configuration
from hpcq import daemon, logs, metrics, pki
from hpcq.api import nodes_pb2
from hpcq.noded import enforce, hardware
from hpcq.noded.runner import JobRunner
from hpcq.noded.session import Session

log = logging.getLogger("hpcq.noded")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="hpcq-noded", description="hpcq node daemon")
    p.add_argument("--config", "-c", help="config file (default: discovered, see hpcq.config)")
    p.add_argument("--name", help="node name (overrides [noded] name)")
    p.add_argument("--cpus", type=int, help="CPUs offered to jobs (overrides [noded] cpus)")
    p.add_argument("--memory", type=int, help="memory offered to jobs, MiB (overrides [noded] memory_mb)")
    p.add_argument("--spool", help="spool directory (overrides [noded] spool_dir)")
    p.add_argument("--cert", help="node certificate (overrides [noded] cert)")
    p.add_argument("--key", help="node key (overrides [noded] key)")
    p.add_argument("--metrics-listen", help="HOST:PORT of the metrics endpoint (overrides [noded] metrics_listen)")
    logs.add_arguments(p)
    return p.parse_args(argv)


async def run(config: configuration.Config) -> None:
    n = config.noded
    name = n.name or socket.gethostname().split(".")[0]
    facts = hardware.detect(n.cpus, n.memory_mb, n.features)
    enforcement = enforce.detect(gpus=[g.index for g in facts.gpus]).switch(
        cores=n.confine_cores, memory=n.confine_memory, track=n.track_processes) if n.confine_jobs else None
    facts.enforcement = enforcement.describe() if enforcement else "none ([noded] confine_jobs = false)"
    log.info("jobs are confined by %s", facts.enforcement)
    endpoint = metrics.serve(n.metrics_listen, required=n.metrics_required, daemon="hpcq-noded", section="noded")
    spool = Path(n.spool_dir)  # made (0711) and checked by runner.start()
    if os.geteuid() != 0:
        log.info("running as %s, not root: user-level mode, only %s's jobs run here", getpass.getuser(),
                 getpass.getuser())
    credentials = pki.channel_credentials(Path(n.ca), Path(n.cert), Path(n.key))
    session: Session | None = None

    def on_finished(outcome: nodes_pb2.JobOutcome) -> None:
        assert session is not None  # made below, before the runner starts any job
        session.on_finished(outcome)
    runner = JobRunner(spool, Path(n.tmp_dir), name, on_finished, allow_root=n.allow_root_jobs,
                       enforcement=enforcement)
    session = Session(name, n.server, credentials, facts, runner, server_name=n.server_name)
    await runner.start()
    if endpoint is not None:
        endpoint.add(metrics.NodedCollector(name, facts, session, runner))
    log.info("hpcq-noded %s: %d CPUs, %d MiB, %d GPUs; ctld at %s", name, facts.cpus, facts.memory_mb,
             len(facts.gpus), n.server)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: reload_certificate(session, n))
    task = asyncio.create_task(session.run_forever())
    await stop.wait()
    task.cancel()
    await runner.close()
    log.info("stopped; running jobs continue under their supervisors")


def reload_certificate(session: Session, n: configuration.NodedSection) -> None:
    """SIGHUP: re-read the node's certificate and key (rotation without downtime)."""
    try:
        session.use_credentials(pki.channel_credentials(Path(n.ca), Path(n.cert), Path(n.key)))
        log.info("SIGHUP: certificate reloaded; reconnecting")
    except pki.PkiError as e:
        log.error("SIGHUP: keeping the current certificate: %s", e)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def overrides(config: configuration.Config) -> None:
        for attr, value in (("name", args.name), ("cpus", args.cpus), ("memory_mb", args.memory),
                            ("spool_dir", args.spool), ("cert", args.cert), ("key", args.key),
                            ("metrics_listen", args.metrics_listen)):
            if value is not None:
                setattr(config.noded, attr, value)
    return daemon.run("hpcq-noded", args, "noded", run, overrides)


if __name__ == "__main__":
    sys.exit(main())
