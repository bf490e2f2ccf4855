"""Shared test helpers and fixtures: polling with a deadline instead of sleeping, and
real clusters on each store backend."""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from tests import pgserver
from tests.cluster import Cluster, start_cluster

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float = 20.0, interval: float = 0.02, what: str = "") -> T:
    """Return condition()'s first truthy value; fail the test if none comes by the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(interval)


@pytest.fixture
def utc(monkeypatch):
    """Times formatted as in the captures, which were taken in UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL server for the session; each cluster gets its own database."""
    if not pgserver.available():
        if os.environ.get("HPCQ_REQUIRE_POSTGRES"):
            pytest.fail("PostgreSQL (initdb, pg_ctl) is required here but not installed")
        pytest.skip("PostgreSQL server binaries not installed")
    server = pgserver.PgServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def make_cluster(request, tmp_path_factory):
    """Start clusters on one store backend: make_cluster(settings=("ctld.node_timeout=3",), nodes=2)."""
    started: list[Cluster] = []

    def make(settings: tuple[str, ...] = (), nodes: int = 2, cpus: int = 2) -> Cluster:
        home = tmp_path_factory.mktemp("hpcq-home")
        database = ""
        if request.param == "postgresql":
            database = request.getfixturevalue("postgres").create_database(home.name.replace("-", "_"))
        cluster = start_cluster(home, nodes=nodes, cpus=cpus, database=database, settings=settings)
        started.append(cluster)
        return cluster
    yield make
    for cluster in started:
        cluster.run("hpcqctl", "down", check=False)


@pytest.fixture
def cluster(make_cluster) -> Cluster:
    """A running 2-node cluster with 2 CPUs per node, on each store backend."""
    return make_cluster()


@pytest.fixture
def workdir(tmp_path) -> Path:
    d = tmp_path / "work dir"
    d.mkdir()
    return d
