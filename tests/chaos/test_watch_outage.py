"""Chaos: a watch of every job (hpcq.Client.watch() with no job ids) across a kill -9 of
hpcq-ctld loses nothing that changed while its stream was cut.

The watchers are real processes (one through the host agent, one with the admin
certificate), stopped with SIGSTOP from before ctld is killed until after the changes are
made: whatever changed meanwhile can reach them only through the watch made again after
the cut, never as a live event on a stream that was already open."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from hpcq.api import jobs_pb2
from tests.chaos.test_crashes import kill_hard, pid_of
from tests.conftest import wait_until

pytestmark = pytest.mark.integration
S = jobs_pb2.JobState

WATCHER = """
import json, sys
from hpcq import Client
with Client.from_config(use_agent=sys.argv[1] == "agent") as client:
    for job in client.watch():
        print(json.dumps([job.id, job.state.name]), flush=True)
"""


class Watcher:
    """A process watching every job; `seen` is each record it has printed, (id, state)."""

    def __init__(self, cluster, path: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", WATCHER, path], env=cluster.env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.seen: list[tuple[int, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            job_id, state = json.loads(line)
            self.seen.append((job_id, state))

    def has(self, job_id: int, state: str) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the watcher ended: {self.process.stderr.read() if self.process.stderr else ''}")
        return (job_id, state) in self.seen

    def signal(self, number: int) -> None:
        os.kill(self.process.pid, number)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@pytest.mark.parametrize("make_cluster", ["sqlite"], indirect=True)   # the store's part: test_crashes
def test_a_watch_of_every_job_gets_what_changed_while_its_stream_was_cut(make_cluster, workdir):
    cluster = make_cluster(nodes=1, cpus=2)
    release = workdir / "release"
    spec = jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM, name="across", submit_dir=str(workdir),
                            script=f"#!/bin/sh\nwhile [ ! -e '{release}' ]; do sleep 0.1; done\n")
    with cluster.client() as client:
        [across] = client.submit([spec])
        wait_until(lambda: client.get([across])[0][0].state == S.RUNNING, timeout=60, what="the job to run")
    watchers = [Watcher(cluster, "agent"), Watcher(cluster, "certificate")]
    try:
        for w in watchers:   # a first watch of every job starts with each unfinished one
            wait_until(lambda w=w: w.has(across, "RUNNING"), timeout=60, what="the watchers' first record")
            w.signal(signal.SIGSTOP)

        kill_hard(pid_of(cluster, "ctld"))
        release.touch()   # the job ends while ctld is down; its node reports it once ctld is back
        cluster.run("hpcqctl", "up", "--nodes", "1", "--cpus", "2")
        with cluster.client() as client:
            # and one submitted and ended after the restart, before the watchers come back
            [after] = client.submit([jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM, name="after",
                                                      submit_dir=str(workdir), script="#!/bin/sh\ntrue\n")])
            wait_until(lambda: all(j.state == S.COMPLETED for j in client.get([across, after])[0]), timeout=60,
                       what="both jobs to complete")

        for w in watchers:
            w.signal(signal.SIGCONT)
        for w in watchers:
            wait_until(lambda w=w: w.has(across, "COMPLETED") and w.has(after, "COMPLETED"), timeout=60,
                       what="the watchers to see both jobs completed")
            assert (across, "RUNNING") in w.seen   # and nothing else came as a record of them
            assert {state for job_id, state in w.seen if job_id in (across, after)} <= {"RUNNING", "COMPLETED"}
    finally:
        for w in watchers:
            w.stop()
