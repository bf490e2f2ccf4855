"""hpcq-ctld: the controller daemon."""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from sqlalchemy.exc import SQLAlchemyError

from hpcq import config as configuration
from hpcq import daemon, logs, metrics, pki, private_files, store_url
from hpcq.api import admin_pb2, jobs_pb2, nodes_pb2
from hpcq.ctld import boundary
from hpcq.ctld.audit import AuditLog
from hpcq.ctld.controller import Controller
from hpcq.ctld.gate import Gate, Load
from hpcq.ctld.leadership import ActiveOnly, Leadership, Sole
from hpcq.ctld.server import AdminServicer, JobsServicer, NodeSessionServicer
from hpcq.ctld.store.writer import Store, StoreUnavailable, database_url

log = logging.getLogger("hpcq.ctld")

MESSAGE_LIMIT = 64 * 1024 * 1024
SERVICES = ("hpcq.v1.Jobs", "hpcq.v1.Admin", "hpcq.v1.NodeSession")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="hpcq-ctld", description="hpcq controller daemon")
    p.add_argument("--config", "-c", help="config file (default: discovered, see hpcq.config)")
    p.add_argument("--listen", help="override [ctld] listen")
    logs.add_arguments(p)
    return p.parse_args(argv)


async def serve(config: configuration.Config) -> None:
    ctld = config.ctld
    state_dir = Path(ctld.state_dir)
    private_files.make_dir(state_dir)  # 0700 if new; narrowed if others may read it
    # First: a required metrics port that is taken stops ctld before anything is opened.
    endpoint = metrics.serve(ctld.metrics_listen, required=ctld.metrics_required, daemon="hpcq-ctld", section="ctld")
    url = database_url(ctld.database, state_dir)
    role, store = await take_role(config, url, state_dir)
    leadership = role if isinstance(role, Leadership) else None
    keeper = asyncio.create_task(leadership.keep()) if leadership is not None else None
    store.on_commit = metrics.on_commit
    controller = Controller(config, store)
    if endpoint is not None:
        endpoint.add(metrics.CtldCollector(controller))
    created = controller.load(store.open())
    await store.write(created)

    # A controller that may no longer act (its lease lost) refuses every call at once.
    interceptors = [ActiveOnly(leadership)] if leadership is not None else None
    server = grpc.aio.server(interceptors=interceptors, options=[("grpc.max_send_message_length", MESSAGE_LIMIT),
                                      ("grpc.max_receive_message_length", MESSAGE_LIMIT),
                                      ("grpc.so_reuseport", 0),
                                      # noded and the agent keep long-lived channels alive with pings.
                                      ("grpc.keepalive_permit_without_calls", 1),
                                      ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
                                      ("grpc.http2.max_ping_strikes", 0)])
    revoked = pki.RevocationList.load(Path(ctld.crl) if ctld.crl else Path(ctld.ca).with_name(pki.CRL_FILE),
                                      ca=Path(ctld.ca))
    audit = AuditLog(ctld.audit_log or state_dir / "audit.log")
    gate = Gate(controller.agent_policy, revoked, audit, Load.from_config(ctld))
    jobs = JobsServicer(controller, gate)
    boundary.add_servicers(server, [
        (jobs, jobs_pb2.DESCRIPTOR.services_by_name["Jobs"]),
        (AdminServicer(controller, gate, role), admin_pb2.DESCRIPTOR.services_by_name["Admin"]),
        (NodeSessionServicer(controller, gate, role), nodes_pb2.DESCRIPTOR.services_by_name["NodeSession"])])
    # grpc-stubs' grpc_health has no stub of the aio servicer.
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [jobs_pb2.DESCRIPTOR.services_by_name["Jobs"].full_name,
             admin_pb2.DESCRIPTOR.services_by_name["Admin"].full_name,
             nodes_pb2.DESCRIPTOR.services_by_name["NodeSession"].full_name,
             health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
    credentials, reload_credentials = pki.reloading_server_credentials(Path(ctld.ca), Path(ctld.cert), Path(ctld.key))
    port = server.add_secure_port(ctld.listen, credentials)
    if port == 0:
        raise SystemExit(f"hpcq-ctld: cannot listen on {ctld.listen}")
    await server.start()
    for name in SERVICES:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("hpcq-ctld serving cluster %s on %s (store %s)", config.cluster.name, ctld.listen, store.url)

    tasks = [asyncio.create_task(loop) for loop in controller.loops()]
    tasks.append(asyncio.create_task(jobs.allocations.end_unclaimed()))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: on_hangup(reload_credentials, audit))
    if leadership is not None and keeper is not None:
        tasks.append(keeper)
        tasks.append(asyncio.create_task(stop_when(leadership.lost, stop)))
    await stop.wait()
    if leadership is not None and leadership.lost.is_set():
        # Fenced: nothing more is written or sent. Node streams and calls end now, so that
        # nodes and clients go to the new active controller; the service manager starts
        # this one again, as a standby.
        log.error("lost the controller lease (epoch %d): %s; stopping without writing or sending anything more",
                  leadership.epoch, leadership.lost_reason)
        jobs.allocations.stopping = True
        await server.stop(grace=None)
        for task in tasks:
            task.cancel()
        raise daemon.CannotStart(f"lost the controller lease (epoch {leadership.epoch}): {leadership.lost_reason}")
    log.info("stopping: finishing in-flight calls")
    jobs.allocations.stopping = True   # their clients make their calls again to the next ctld
    await health_servicer.enter_graceful_shutdown()
    await server.stop(grace=5)
    try:   # what nodes reported last is stored before the store closes
        await asyncio.wait_for(controller.background.drained(), timeout=5)
    except TimeoutError:
        log.warning("stopping with background writes still queued; nodes report those jobs again")
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await controller.flush_usage()
    store.close()
    if leadership is not None:
        await leadership.release()
        leadership.close()
    audit.close()
    if endpoint is not None:
        endpoint.close()
    log.info("stopped")


async def take_role(config: configuration.Config, url: str, state_dir: Path) -> tuple[Sole | Leadership, Store]:
    """With PostgreSQL: wait as a standby until this controller holds the lease, then
    open the store (migrations are the active controller's). With SQLite: the only
    controller, refusing to start beside another on the same state directory."""
    ctld = config.ctld
    if not url.startswith("postgresql"):
        sole = Sole(ctld.advertise or ctld.listen, time.time())
        sole.lock(state_dir, url)
        return sole, Store(url, max_batch=ctld.commit_batch)
    try:
        leadership = Leadership(url, ctld.advertise or ctld.listen)
    except (ValueError, ImportError, SQLAlchemyError) as e:
        raise StoreUnavailable(f"{store_url.shown(url)}: {store_url.scrub(str(e), url)}") from None
    log.info("hpcq-ctld %s: standby until it holds the controller lease (store %s)", leadership.address,
             leadership.url)
    await leadership.acquire()
    store = Store(url, max_batch=ctld.commit_batch, connect_args=leadership.connect_args())
    store.fence = leadership.check_write
    return leadership, store


async def stop_when(event: asyncio.Event, stop: asyncio.Event) -> None:
    await event.wait()
    stop.set()


def on_hangup(reload_credentials: Callable[[], None], audit: AuditLog) -> None:
    """SIGHUP: new handshakes use the re-read certificate files (rotation without
    downtime); the audit log is reopened (after logrotate moved it)."""
    try:
        reload_credentials()
        log.info("SIGHUP: certificates reloaded")
    except pki.PkiError as e:
        log.error("SIGHUP: keeping the current certificates: %s", e)
    audit.reopen()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def overrides(config: configuration.Config) -> None:
        if args.listen:
            config.ctld.listen = args.listen
    return daemon.run("hpcq-ctld", args, "ctld", serve, overrides)


if __name__ == "__main__":
    sys.exit(main())
