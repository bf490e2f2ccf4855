"""Prometheus metrics of hpcq-ctld, hpcq-noded and hpcq-agent.

Two kinds. Events (an RPC returned, a scheduling pass ended, the store committed, a
job launched) update counters and histograms where they happen, which costs a few
hundred nanoseconds each. State (jobs by state and queue, nodes by state, heartbeat
ages) is not mirrored at all: collectors read it from its owner when Prometheus
scrapes, so the hot paths pay nothing for it.

The endpoint is plain HTTP on `[section] metrics_listen` (a thread of prometheus_client),
off unless configured. Collectors run in that thread while the event loop changes the
dictionaries they read; each copies what it needs (a C-level `list(d.values())`, atomic
under the GIL) and retries the rare read that raced a resize.
"""
from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, start_http_server
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from hpcq import __version__
from hpcq.config import split_address

log = logging.getLogger("hpcq.metrics")

disable_created_metrics()  # no *_created series: Prometheus has no use for them and they double the output


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


# One registry per daemon, so each endpoint shows its own series only; all kept apart
# from prometheus_client's default one so that importing hpcq exports nothing by itself.
REGISTRIES = {"ctld": _registry(), "noded": _registry(), "agent": _registry()}
_CTLD, _NODED, _AGENT = REGISTRIES["ctld"], REGISTRIES["noded"], REGISTRIES["agent"]

FAST = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
WAIT = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 86400.0,
        7 * 86400.0)
COUNT = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)

# -- ctld: events -------------------------------------------------------------------------

RPC_SECONDS = Histogram("hpcq_rpc_duration_seconds", "Time ctld took to answer a unary RPC, by method and status code.",
                        ["method", "code"], buckets=FAST, registry=_CTLD)
JOBS_SUBMITTED = Counter("hpcq_jobs_submitted", "Jobs accepted by Submit (a call may submit several).",
                         registry=_CTLD)
PASS_SECONDS = Histogram("hpcq_sched_pass_duration_seconds",
                         "Duration of a scheduling pass: snapshot, pure scheduler, applying its decisions.",
                         buckets=FAST, registry=_CTLD)
STARTED_PER_PASS = Histogram("hpcq_sched_jobs_started_per_pass", "Jobs one scheduling pass started.",
                             buckets=COUNT, registry=_CTLD)
JOBS_STARTED = Counter("hpcq_jobs_started", "Job attempts started by the scheduler (a requeued job starts again).",
                       registry=_CTLD)
SUBMIT_TO_START = Histogram("hpcq_job_submit_to_start_seconds",
                            "Seconds from submit to the first start of a job (its queue wait).",
                            buckets=WAIT, registry=_CTLD)
BACKGROUND_WRITE_FAILURES = Counter("hpcq_store_background_write_failures",
                                    "Store changes nobody awaited (a job's start or end, a node's registration) "
                                    "whose write failed; each is logged with its cause.", registry=_CTLD)
COMMIT_SECONDS = Histogram("hpcq_store_commit_duration_seconds", "Duration of one store transaction (group commit).",
                           buckets=FAST, registry=_CTLD)
COMMIT_BATCH = Histogram("hpcq_store_commit_batch_size", "Row changes written by one store transaction.",
                         buckets=COUNT[1:], registry=_CTLD)


Servicer = TypeVar("Servicer")
Request = TypeVar("Request")
Context = TypeVar("Context")
Reply = TypeVar("Reply")


def timed_rpc(method: str, handler: Callable[[Servicer, Request, Context], Awaitable[Reply]]
              ) -> Callable[[Servicer, Request, Context], Coroutine[Any, Any, Reply]]:
    """Wrap a servicer's unary handler (self, request, context) to time it by method and
    status code, and count the jobs a Submit accepted."""
    name = method.rsplit("/", 1)[-1]

    @functools.wraps(handler)
    async def timed(self: Servicer, request: Request, context: Context) -> Reply:
        started = time.perf_counter()
        code = "OK"
        try:
            reply = await handler(self, request, context)
        except BaseException:
            code = _status_name(context)
            raise
        finally:
            RPC_SECONDS.labels(name, code).observe(time.perf_counter() - started)
        if name == "Submit":
            JOBS_SUBMITTED.inc(len(reply.job_ids))  # type: ignore[attr-defined]  # a SubmitResponse
        return reply
    return timed


# gRPC's status codes, the only values a `code` label takes: a label set is fixed, never
# taken from what a peer sent (each new value is a new series, kept for the daemon's life).
STATUS_CODES = frozenset({
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
    "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"})


def status_label(code: str) -> str:
    return code if code in STATUS_CODES else "UNKNOWN"


def _status_name(context: Any) -> str:
    try:
        code = context.code()
    except Exception:  # noqa: BLE001 - a status is a label here, never worth failing a call for
        code = None
    return status_label(getattr(code, "name", None) or "UNKNOWN")


def on_pass(seconds: float, starting: Iterable[Any]) -> None:
    """A scheduling pass ended, having decided to start `starting` (Job messages)."""
    PASS_SECONDS.observe(seconds)
    started = 0
    for job in starting:
        started += 1
        if job.attempt == 1 and job.submit_time:
            SUBMIT_TO_START.observe(max(0.0, job.start_time - job.submit_time))
    STARTED_PER_PASS.observe(started)
    JOBS_STARTED.inc(started)


def on_commit(seconds: float, batch_size: int) -> None:
    """The store writer committed one transaction (called on the writer's thread)."""
    COMMIT_SECONDS.observe(seconds)
    COMMIT_BATCH.observe(batch_size)


# -- ctld: state, read at scrape time ------------------------------------------------------

def _copy(read: Callable[[], Any]) -> Any:
    """Run a read of event-loop state from the scrape thread, retrying one that raced a resize."""
    for _ in range(5):
        try:
            return read()
        except RuntimeError:  # "dictionary changed size during iteration"
            time.sleep(0.001)
    return read()


class CtldCollector(Collector):
    """Jobs by state and queue, nodes by state, heartbeat ages and store totals, read
    from the Controller and its Store when scraped."""

    def __init__(self, controller: Any) -> None:
        self.c = controller

    def collect(self) -> Iterator[Any]:
        from hpcq.api import admin_pb2, jobs_pb2

        c = self.c
        now = time.time()
        jobs = _copy(lambda: list(c.jobs.values()))
        queues = _copy(lambda: list(c.queues))
        nodes = _copy(lambda: list(c.nodes.values()))

        info = InfoMetricFamily("hpcq_ctld", "The controller: version and cluster name.")
        info.add_metric([], {"version": __version__, "cluster": c.cluster})
        yield info
        yield GaugeMetricFamily("hpcq_ctld_start_time_seconds", "When this ctld started (unix seconds).",
                                value=c.started_at)

        counts: dict[tuple[int, str], int] = {}
        for job in jobs:  # ~30 ms per 10^5 jobs, in the scrape thread (holding the GIL)
            key = (job.state, job.queue)
            counts[key] = counts.get(key, 0) + 1
        by_state = GaugeMetricFamily("hpcq_jobs", "Jobs ctld holds in memory, by state and queue.",
                                     labels=["state", "queue"])
        states = [(n, v) for n, v in jobs_pb2.JobState.items() if v]
        for queue in sorted(set(queues) | {q for _, q in counts}):
            for name, state in states:
                by_state.add_metric([name, queue], counts.get((state, queue), 0))
        yield by_state
        yield GaugeMetricFamily("hpcq_jobs_schedulable", "PENDING jobs the scheduler considers in a pass.",
                                value=len(c.queued))
        yield GaugeMetricFamily("hpcq_next_job_id", "The id the next submitted job will get.", value=c.next_job_id)
        yield GaugeMetricFamily("hpcq_sched_last_pass_duration_seconds", "Duration of the latest scheduling pass.",
                                value=c.last_pass_seconds)

        node_states = GaugeMetricFamily("hpcq_nodes", "Nodes by state (as `hpcqctl node list` shows them).",
                                        labels=["state"])
        by_node_state: dict[str, int] = {}
        for node in nodes:
            name = admin_pb2.NodeState.Name(node.state()).removeprefix("NODE_")
            by_node_state[name] = by_node_state.get(name, 0) + 1
        for state in admin_pb2.NodeState.keys():  # noqa: SIM118 - an enum wrapper, not a dict: not iterable
            state = state.removeprefix("NODE_")
            if state != "STATE_UNSPECIFIED":
                node_states.add_metric([state], by_node_state.get(state, 0))
        yield node_states

        age = GaugeMetricFamily("hpcq_node_heartbeat_age_seconds",
                                "Seconds since ctld last heard from each node (registration, heartbeat or report).",
                                labels=["node"])
        cpus = GaugeMetricFamily("hpcq_node_cpus", "CPUs each node offers.", labels=["node"])
        allocated = GaugeMetricFamily("hpcq_node_cpus_allocated", "CPUs allocated to jobs on each node.",
                                      labels=["node"])
        connected = GaugeMetricFamily("hpcq_node_connected", "1 while the node's session stream is open.",
                                      labels=["node"])
        for node in sorted(nodes, key=lambda n: n.name):
            if node.last_seen:
                age.add_metric([node.name], max(0.0, now - node.last_seen))
            cpus.add_metric([node.name], node.hardware.cpus)
            allocated.add_metric([node.name], node.cpus_allocated)
            connected.add_metric([node.name], 1 if node.link is not None else 0)
        yield from (age, cpus, allocated, connected)

        store = c.store
        yield GaugeMetricFamily("hpcq_store_last_commit_duration_seconds", "Duration of the latest store transaction.",
                                value=store.last_commit_seconds)
        yield GaugeMetricFamily("hpcq_store_last_commit_batch_size", "Row changes of the latest store transaction.",
                                value=store.last_batch_size)


# -- noded ------------------------------------------------------------------------------------

NODED_LAUNCHES = Counter("hpcq_noded_launches", "Job attempts this node was asked to launch, by outcome.",
                         ["outcome"], registry=_NODED)
NODED_LAUNCH_SECONDS = Histogram("hpcq_noded_launch_duration_seconds",
                                 "From Launch received to the job's supervisor reporting it started.",
                                 buckets=FAST, registry=_NODED)
NODED_FINISHED = Counter("hpcq_noded_jobs_finished", "Job attempts that ended on this node, by state.", ["state"],
                         registry=_NODED)
NODED_SESSIONS = Counter("hpcq_noded_sessions", "Sessions to ctld opened (registrations; above 1: reconnects).",
                         registry=_NODED)
NODED_HEARTBEATS = Counter("hpcq_noded_heartbeats", "Heartbeats sent to ctld.", registry=_NODED)


def on_launch(seconds: float, running: bool) -> None:
    NODED_LAUNCHES.labels("started" if running else "failed").inc()
    if running:
        NODED_LAUNCH_SECONDS.observe(seconds)


def on_job_finished(state: int) -> None:
    from hpcq.api import jobs_pb2
    NODED_FINISHED.labels(jobs_pb2.JobState.Name(state)).inc()


class NodedCollector(Collector):
    """The node's facts, its link to ctld and the attempts in its spool, read when scraped."""

    def __init__(self, name: str, facts: Any, session: Any, runner: Any) -> None:
        self.name, self.facts, self.session, self.runner = name, facts, session, runner

    def collect(self) -> Iterator[Any]:
        info = InfoMetricFamily("hpcq_noded", "The node daemon: version and node name.")
        info.add_metric([], {"version": __version__, "node": self.name})
        yield info
        yield GaugeMetricFamily("hpcq_noded_connected", "1 while the session stream to ctld is up.",
                                value=1 if self.session.connected.is_set() else 0)
        yield GaugeMetricFamily("hpcq_noded_cpus", "CPUs offered to jobs.", value=self.facts.cpus)
        yield GaugeMetricFamily("hpcq_noded_memory_mb", "Memory offered to jobs, MiB.", value=self.facts.memory_mb)
        outcomes = _copy(self.runner.outcomes)
        running = sum(1 for o in outcomes if o.running)
        yield GaugeMetricFamily("hpcq_noded_jobs_running", "Job attempts whose supervisor runs here.", value=running)
        yield GaugeMetricFamily("hpcq_noded_jobs_unacknowledged",
                                "Ended attempts whose outcome ctld has not yet confirmed (Forget).",
                                value=len(outcomes) - running)


# -- agent ------------------------------------------------------------------------------------

AGENT_REQUESTS = Histogram("hpcq_agent_request_duration_seconds",
                           "Requests forwarded for local users, by method and status code (rate limits and "
                           "refusals included), with the time until the reply (a stream: until it ended).",
                           ["method", "code"], buckets=FAST, registry=_AGENT)
AGENT_CONNECTIONS = Counter("hpcq_agent_connections", "Connections accepted on the agent's socket.",
                            registry=_AGENT)
AGENT_REFUSED = Counter("hpcq_agent_refused", "Callers refused before any forwarding, by status code.", ["code"],
                        registry=_AGENT)


OTHER_METHOD = "other"   # the label of every method name that is not an RPC of the API


@functools.cache
def _api_method_labels() -> dict[str, str]:
    """"/hpcq.v1.Jobs/Get" -> "Get" for every RPC the API defines: the agent's method labels."""
    from hpcq.api import admin_pb2, jobs_pb2, nodes_pb2

    return {f"/{service.full_name}/{method.name}": method.name
            for module in (jobs_pb2, admin_pb2, nodes_pb2) for service in module.DESCRIPTOR.services_by_name.values()
            for method in service.methods}


def on_agent_request(method: str, code: str, seconds: float) -> None:
    """One request the agent answered. Any local user may send any method name: a name
    that is not one of the API's RPCs is counted as OTHER_METHOD, never as itself."""
    AGENT_REQUESTS.labels(_api_method_labels().get(method, OTHER_METHOD), status_label(code)).observe(seconds)


# -- the endpoint ------------------------------------------------------------------------------

class Endpoint:
    """A running metrics HTTP server."""

    def __init__(self, server: Any, address: str, registry: CollectorRegistry) -> None:
        self._server = server
        self.address = address
        self.registry = registry

    def add(self, collector: Collector) -> None:
        """Export what `collector` reads at every scrape, beside the daemon's event metrics."""
        self.registry.register(collector)

    @property
    def port(self) -> int:
        return self._server.server_port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve(listen: str, *, required: bool, daemon: str, section: str) -> Endpoint | None:
    """Serve the metrics of the daemon that `section` configures on `listen` ("host:port");
    None when `listen` is empty.

    A port that cannot be bound is an error the caller exits on when `required`;
    otherwise it is logged and the daemon goes on without metrics.
    """
    if not listen:
        return None
    address = split_address(listen)
    if address is None:  # the config is checked at load; a command-line override is not
        raise SystemExit(f"{daemon}: [{section}] metrics_listen: {listen!r} is not HOST:PORT with a port 1-65535")
    registry = REGISTRIES[section]
    try:
        server, _thread = start_http_server(address[1], address[0] or "0.0.0.0", registry=registry)
    except OSError as e:
        message = f"metrics: cannot listen on {listen}: {e.strerror or e}"
        if required:
            raise SystemExit(f"{daemon}: {message} ([{section}] metrics_required = true)") from None
        log.error("%s; serving without metrics ([%s] metrics_required = false)", message, section)
        return None
    log.info("metrics on http://%s/metrics", listen)
    return Endpoint(server, listen, registry)
