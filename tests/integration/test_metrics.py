"""Each daemon's metrics endpoint on a real local cluster, read as Prometheus would
(an HTTP GET of /metrics), after real jobs ran; and `hpcqctl status` summarising them."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

import hpcq
from hpcq import config
from tests.conftest import wait_until
from tests.integration.conftest import start_cluster

pytestmark = pytest.mark.integration


def free_ports(count: int) -> list[int]:
    """`count` consecutive free ports (a local cluster's nodes take PORT, PORT+1, ...)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + count > 65535:
            continue
        try:
            probes = []
            for port in range(base, base + count):
                probe = socket.socket()
                probes.append(probe)
                probe.bind(("127.0.0.1", port))
            return list(range(base, base + count))
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    raise RuntimeError("no run of free ports")


def scrape(port: int) -> dict[str, dict[tuple, float]]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {f.name: {(s.name, tuple(sorted(s.labels.items()))): s.value for s in f.samples}
            for f in text_string_to_metric_families(text)}


def value(metrics: dict, family: str, sample: str | None = None, **labels: str) -> float:
    return metrics[family][(sample or family, tuple(sorted(labels.items())))]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    ctld, node1, node2, agent = free_ports(4)
    cluster = start_cluster(tmp_path_factory.mktemp("hpcq-metrics"), nodes=2, cpus=2, settings=(
        f"ctld.metrics_listen=127.0.0.1:{ctld}", "ctld.metrics_required=true",
        f"noded.metrics_listen=127.0.0.1:{node1}", f"agent.metrics_listen=127.0.0.1:{agent}"))
    cluster.ports = {"ctld": ctld, "node1": node1, "node2": node2, "agent": agent}
    yield cluster
    cluster.run("hpcqctl", "down", check=False)


@pytest.fixture(scope="module")
def ran_jobs(cluster, tmp_path_factory):
    work = tmp_path_factory.mktemp("work")
    for i in range(3):
        cluster.run("sbatch", "-t", "1", "--wrap", f"sleep 0.{i + 2}", cwd=work)
    cluster.run("qsub", "-l", "walltime=00:01:00", input="true\n", cwd=work)
    cluster.run("sbatch", "-t", "1", "--wrap", "exit 3", cwd=work)
    with cluster.client(admin=True) as client:
        ids = [j.id for j in client.list()]
        client.wait(ids, timeout=30)
    return ids


def test_ctld_exports_jobs_scheduler_store_and_rpc_figures(cluster, ran_jobs):
    m = scrape(cluster.ports["ctld"])
    assert value(m, "hpcq_jobs", state="COMPLETED", queue="batch") == 4
    assert value(m, "hpcq_jobs", state="FAILED", queue="batch") == 1
    assert value(m, "hpcq_jobs", state="PENDING", queue="batch") == 0
    assert value(m, "hpcq_jobs_submitted", "hpcq_jobs_submitted_total") == 5
    assert value(m, "hpcq_rpc_duration_seconds", "hpcq_rpc_duration_seconds_count", method="Submit", code="OK") == 5
    submit_seconds = value(m, "hpcq_rpc_duration_seconds", "hpcq_rpc_duration_seconds_sum", method="Submit", code="OK")
    assert 0 < submit_seconds / 5 < 1.0, "a submit takes well under a second on one machine"
    passes = value(m, "hpcq_sched_pass_duration_seconds", "hpcq_sched_pass_duration_seconds_count")
    assert passes >= 1
    assert 0 < value(m, "hpcq_sched_pass_duration_seconds", "hpcq_sched_pass_duration_seconds_sum") / passes < 0.5
    assert value(m, "hpcq_sched_jobs_started_per_pass", "hpcq_sched_jobs_started_per_pass_sum") == 5
    assert value(m, "hpcq_jobs_started", "hpcq_jobs_started_total") == 5
    waits = value(m, "hpcq_job_submit_to_start_seconds", "hpcq_job_submit_to_start_seconds_count")
    assert waits == 5
    assert 0 <= value(m, "hpcq_job_submit_to_start_seconds", "hpcq_job_submit_to_start_seconds_sum") / waits < 10
    commits = value(m, "hpcq_store_commit_duration_seconds", "hpcq_store_commit_duration_seconds_count")
    assert commits >= 5
    assert value(m, "hpcq_store_commit_batch_size", "hpcq_store_commit_batch_size_sum") >= commits
    assert value(m, "hpcq_nodes", state="IDLE") == 2
    assert value(m, "hpcq_nodes", state="DOWN") == 0
    for node in ("node1", "node2"):
        assert 0 <= value(m, "hpcq_node_heartbeat_age_seconds", node=node) < 15
        assert value(m, "hpcq_node_cpus", node=node) == 2
    assert value(m, "process_resident_memory_bytes") > 10e6


def test_noded_and_agent_export_their_own_figures(cluster, ran_jobs):
    launched = 0.0
    for node in ("node1", "node2"):
        m = scrape(cluster.ports[node])
        assert value(m, "hpcq_noded_info", node=node, version=hpcq.__version__) == 1
        assert value(m, "hpcq_noded_connected") == 1
        assert value(m, "hpcq_noded_cpus") == 2
        assert "hpcq_jobs" not in m, "a node exports its own series only"
        launched += m.get("hpcq_noded_launches", {}).get(("hpcq_noded_launches_total", (("outcome", "started"),)), 0)
    assert launched == 5
    m = scrape(cluster.ports["agent"])
    # The shims went through the agent: five submits, and whatever else they asked.
    assert value(m, "hpcq_agent_request_duration_seconds", "hpcq_agent_request_duration_seconds_count",
                 method="Submit", code="OK") == 5
    assert value(m, "hpcq_agent_connections", "hpcq_agent_connections_total") >= 5


def test_status_prints_the_sdiag_like_summary(cluster, ran_jobs):
    out = cluster.run("hpcqctl", "status").stdout
    assert "jobs: completed 4, failed 1" in out
    assert f"ctld metrics (http://127.0.0.1:{cluster.ports['ctld']}/metrics):" in out
    assert "jobs submitted             5" in out
    assert "    Submit                  5       0" in out
    data = json.loads(cluster.run("hpcqctl", "status", "--json").stdout)
    assert data["metrics"]["submitted"] == 5
    assert data["metrics"]["scheduler"]["jobs_started"] == 5
    assert set(data["metrics"]["heartbeat_age_seconds"]) == {"node1", "node2"}


def test_a_taken_metrics_port_stops_ctld_only_when_metrics_are_required(cluster, tmp_path):
    """A second ctld (own state, own API port) whose metrics port is the first one's."""
    cfg = config.load(cluster.home / "hpcq.toml")
    [api_port] = free_ports(1)
    base = [f"ctld.state_dir={tmp_path}", f"ctld.listen=127.0.0.1:{api_port}",
            f"ctld.metrics_listen=127.0.0.1:{cluster.ports['ctld']}"]
    for required in (True, False):
        conf = tmp_path / f"ctld-{required}.toml"
        overrides = [*base, f"ctld.metrics_required={str(required).lower()}"]
        conf.write_text(config.dump(config.apply_overrides(cfg, overrides)))
        log = tmp_path / f"ctld-{required}.log"
        with open(log, "w") as output:
            process = subprocess.Popen([sys.executable, "-m", "hpcq.ctld.main", "-c", str(conf)], env=cluster.env,
                                       stdout=output, stderr=subprocess.STDOUT)
        try:
            if required:
                assert process.wait(timeout=30) == 1
                out = log.read_text()
                assert f"metrics: cannot listen on 127.0.0.1:{cluster.ports['ctld']}: Address already in use" in out
                assert "serving cluster" not in out
                continue
            wait_until(lambda: "serving cluster" in log.read_text(),  # noqa: B023 - waited for in this iteration
                       timeout=30, what="the second ctld to serve")
            assert "serving without metrics ([ctld] metrics_required = false)" in log.read_text()
            with socket.create_connection(("127.0.0.1", api_port), timeout=5):
                pass  # its API port answers
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
    assert os.path.exists(tmp_path / "hpcq.db")
