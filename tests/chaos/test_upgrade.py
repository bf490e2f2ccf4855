"""(d) A database written by schema 1 (a stored fixture) upgraded by a real ctld keeps every job."""
from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from hpcq.api import jobs_pb2
from tests.cluster import start_cluster

pytestmark = pytest.mark.integration
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "hpcq-schema1.db"

# The tables as schema 1 created them on PostgreSQL.
SCHEMA_1_POSTGRES = """
CREATE TABLE jobs (id INTEGER PRIMARY KEY, "user" VARCHAR NOT NULL, state INTEGER NOT NULL, queue VARCHAR NOT NULL,
                   name VARCHAR NOT NULL, submit_time FLOAT NOT NULL, end_time FLOAT NOT NULL, record BYTEA NOT NULL);
CREATE INDEX ix_jobs_user ON jobs ("user");
CREATE INDEX ix_jobs_state ON jobs (state);
CREATE INDEX ix_jobs_end_time ON jobs (end_time);
CREATE TABLE nodes (name VARCHAR PRIMARY KEY, record BYTEA NOT NULL);
CREATE TABLE queues (name VARCHAR PRIMARY KEY, record BYTEA NOT NULL);
CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
"""


def schema_1_database(backend: str, tmp_path: Path, request) -> str:
    if backend == "sqlite":
        db = tmp_path / "old.db"
        shutil.copy(FIXTURE, db)
        return f"sqlite:///{db}"
    import psycopg
    url = request.getfixturevalue("postgres").create_database(f"upgrade_{tmp_path.name}".replace("-", "_"))
    # Read as it is: a plain connection to a database in WAL mode leaves -wal and -shm
    # files beside it, in the source tree.
    source = sqlite3.connect(f"file:{FIXTURE}?immutable=1", uri=True)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as target:
        target.execute(SCHEMA_1_POSTGRES)
        for table, columns in (("jobs", '"id", "user", state, queue, name, submit_time, end_time, record'),
                               ("queues", "name, record"), ("nodes", "name, record"), ("meta", "key, value")):
            rows = source.execute(f"SELECT {columns.replace(chr(34), '')} FROM {table}").fetchall()
            if rows:
                marks = ", ".join(["%s"] * len(rows[0]))
                target.cursor().executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
    return url


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_from_schema_1_keeps_every_job(backend, tmp_path, request, workdir):
    database = schema_1_database(backend, tmp_path, request)
    cluster = start_cluster(tmp_path / "home", database=database)
    try:
        with cluster.client(admin=True) as client:  # the fixture's jobs are alice's
            jobs, unknown = client.get(range(1, 41))
            assert unknown == [] and [j.id for j in jobs] == list(range(1, 41))
            assert sum(j.state == jobs_pb2.COMPLETED for j in jobs) == 10
            held = [j.id for j in jobs if j.state == jobs_pb2.HELD]
            [new_id] = client.submit([jobs_pb2.JobSpec(script="#!/bin/sh\ntrue\n", submit_dir=str(workdir))])
            assert new_id == 41
            client.release(held)
            finished = client.wait(held + [new_id], timeout=60)
        print(f"\n[chaos] upgrade ({backend}): jobs kept={len(jobs)}, lost=0, released and ended={len(finished)}")
        # The fixture's jobs belong to 'alice', unknown on this host: they end FAILED with that reason.
        assert all(j.state == jobs_pb2.FAILED and "alice" in j.reason for j in finished[:-1])
        assert finished[-1].state == jobs_pb2.COMPLETED
    finally:
        cluster.run("hpcqctl", "down", check=False)
