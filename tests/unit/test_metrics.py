"""Metrics without a network: the event hooks, the collectors over a real Controller, the
endpoint's behaviour when its port is taken, and `hpcqctl status`'s reading of them."""
import asyncio
import socket
import urllib.request

import grpc
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from hpcq import metrics
from hpcq.api import jobs_pb2, nodes_pb2
from hpcq.config import Config
from hpcq.ctl import status
from hpcq.ctld.nodes_state import NodeLink
from tests.unit.controllers import make

SCRIPT = "#!/bin/sh\ntrue\n"


def sample(name: str, registry=None, **labels) -> float:
    value = (registry or metrics.REGISTRIES["ctld"]).get_sample_value(name, labels)
    return value or 0.0


class FakeContext:
    def __init__(self, code=None) -> None:
        self._code = code

    def code(self):
        return self._code


def test_timed_rpc_counts_by_method_and_status_and_counts_submitted_jobs():
    async def submit(self, request, context):
        return jobs_pb2.SubmitResponse(job_ids=[7, 8, 9])

    async def refused(self, request, context):
        raise RuntimeError("aborted")

    ok_before = sample("hpcq_rpc_duration_seconds_count", method="Submit", code="OK")
    denied_before = sample("hpcq_rpc_duration_seconds_count", method="Cancel", code="PERMISSION_DENIED")
    jobs_before = sample("hpcq_jobs_submitted_total")
    timed = metrics.timed_rpc("/hpcq.v1.Jobs/Submit", submit)
    assert timed.__name__ == "submit"
    asyncio.run(timed(None, None, FakeContext()))
    with pytest.raises(RuntimeError):
        asyncio.run(metrics.timed_rpc("/hpcq.v1.Jobs/Cancel", refused)(
            None, None, FakeContext(grpc.StatusCode.PERMISSION_DENIED)))
    assert sample("hpcq_rpc_duration_seconds_count", method="Submit", code="OK") == ok_before + 1
    assert sample("hpcq_rpc_duration_seconds_count", method="Cancel", code="PERMISSION_DENIED") == denied_before + 1
    assert sample("hpcq_jobs_submitted_total") == jobs_before + 3


def test_a_pass_records_its_duration_its_starts_and_their_queue_wait(tmp_path):
    c, store = make(tmp_path)
    passes = sample("hpcq_sched_pass_duration_seconds_count")
    waits = sample("hpcq_job_submit_to_start_seconds_count")
    started = sample("hpcq_jobs_started_total")
    commits = sample("hpcq_store_commit_duration_seconds_count")
    store.on_commit = metrics.on_commit

    async def scenario():
        c.on_register(nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=2, memory_mb=1000)), NodeLink())
        await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)] * 3)
        return await c.schedule_once()
    assert asyncio.run(scenario()) == 2
    store.close()
    assert sample("hpcq_sched_pass_duration_seconds_count") == passes + 1
    assert sample("hpcq_jobs_started_total") == started + 2
    assert sample("hpcq_job_submit_to_start_seconds_count") == waits + 2
    assert sample("hpcq_sched_jobs_started_per_pass_bucket", le="2.0") >= 1
    assert sample("hpcq_store_commit_duration_seconds_count") >= commits + 2


def test_a_requeued_start_is_not_counted_as_queue_wait():
    before = sample("hpcq_job_submit_to_start_seconds_count")
    metrics.on_pass(0.001, [jobs_pb2.Job(id=1, attempt=2, submit_time=1.0, start_time=5.0)])
    assert sample("hpcq_job_submit_to_start_seconds_count") == before


def test_the_ctld_collector_reads_jobs_nodes_and_heartbeats_at_scrape_time(tmp_path):
    c, store = make(tmp_path)
    registry = CollectorRegistry()
    registry.register(metrics.CtldCollector(c))

    async def scenario():
        c.on_register(nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=1, memory_mb=1000)), NodeLink())
        await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)] * 3)
        await c.schedule_once()
    asyncio.run(scenario())
    store.close()
    assert sample("hpcq_jobs", registry, state="RUNNING", queue="batch") == 1
    assert sample("hpcq_jobs", registry, state="PENDING", queue="batch") == 2
    assert sample("hpcq_jobs", registry, state="FAILED", queue="batch") == 0   # every state, for dashboards
    assert sample("hpcq_nodes", registry, state="ALLOCATED") == 1
    assert sample("hpcq_nodes", registry, state="IDLE") == 0
    assert 0 <= sample("hpcq_node_heartbeat_age_seconds", registry, node="n1") < 60
    assert sample("hpcq_node_cpus_allocated", registry, node="n1") == 1
    assert sample("hpcq_next_job_id", registry) == 4
    assert registry.get_sample_value("hpcq_ctld_info", {"cluster": "hpcq", "version": metrics.__version__}) == 1
    assert b"hpcq_store_last_commit_batch_size" in generate_latest(registry)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_endpoint_serves_its_daemons_series_only():
    endpoint = metrics.serve(f"127.0.0.1:{_free_port()}", required=True, daemon="hpcq-agent", section="agent")
    try:
        metrics.on_agent_request("/hpcq.v1.Jobs/Get", "OK", 0.002)
        text = urllib.request.urlopen(f"http://{endpoint.address}/metrics", timeout=5).read().decode()
    finally:
        endpoint.close()
    assert 'hpcq_agent_request_duration_seconds_count{code="OK",method="Get"}' in text
    assert "process_cpu_seconds_total" in text
    assert "hpcq_sched_pass_duration_seconds" not in text


def test_a_taken_port_stops_a_daemon_that_requires_metrics_and_not_one_that_does_not(caplog):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(SystemExit, match=r"hpcq-noded: metrics: cannot listen on 127\.0\.0\.1:\d+: "
                                             r"Address already in use \(\[noded\] metrics_required = true\)"):
            metrics.serve(address, required=True, daemon="hpcq-noded", section="noded")
        assert metrics.serve(address, required=False, daemon="hpcq-noded", section="noded") is None
    assert "serving without metrics ([noded] metrics_required = false)" in caplog.text


def test_no_address_means_no_endpoint():
    assert metrics.serve("", required=True, daemon="hpcq-ctld", section="ctld") is None


def test_status_summarises_histograms_like_sdiag():
    registry = CollectorRegistry()
    from prometheus_client import Histogram
    h = Histogram("hpcq_sched_pass_duration_seconds", "", buckets=metrics.FAST, registry=registry)
    for seconds in (0.0002, 0.0003, 0.004):
        h.observe(seconds)
    rpc = Histogram("hpcq_rpc_duration_seconds", "", ["method", "code"], buckets=metrics.FAST, registry=registry)
    rpc.labels("Submit", "OK").observe(0.002)
    rpc.labels("Submit", "INVALID_ARGUMENT").observe(0.001)
    figures = status.summary(status.parse(generate_latest(registry).decode()))
    assert figures["scheduler"]["passes"] == 3
    assert figures["scheduler"]["mean_seconds"] == pytest.approx(0.0015)
    assert figures["scheduler"]["p99_seconds"] == 0.005
    assert figures["rpc"]["Submit"]["calls"] == 2 and figures["rpc"]["Submit"]["errors"] == 1
    text = "\n".join(status.render(figures, "http://x/metrics"))
    assert "scheduling passes          3   mean 1.50 ms, p99 <= 5.00 ms" in text


def test_status_finds_the_metrics_url_in_the_config():
    config = Config()
    assert status.metrics_url(config, None) == ""
    config.ctld.metrics_listen = "0.0.0.0:9101"
    config.client.server = "head.example.org:6817"
    assert status.metrics_url(config, None) == "http://head.example.org:9101/metrics"
    assert status.metrics_url(config, "10.0.0.1:9100") == "http://10.0.0.1:9100/metrics"


def test_json_logs_carry_job_events_as_fields():
    import io
    import json
    import logging

    from hpcq import logs
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.setup("info", "json", stream)
        logging.getLogger("hpcq.noded").info("job %d attempt %d of %s started", 12, 1, "alice",
                                             extra={"job_id": 12, "user": "alice"})
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    entry = json.loads(stream.getvalue())
    assert entry["message"] == "job 12 attempt 1 of alice started"
    assert (entry["job_id"], entry["user"], entry["level"], entry["logger"]) == (12, "alice", "info", "hpcq.noded")
