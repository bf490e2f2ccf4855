"""Live usage for sstat: noded measures its running jobs (a cgroup, else /proc) and sends
it with heartbeats; ctld keeps the last report of each node's own jobs and answers it."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from hpcq.api import jobs_pb2, nodes_pb2
from hpcq.ctld.clock import ManualClock
from hpcq.ctld.nodes_state import NodeLink
from hpcq.noded import usage
from tests.unit.controllers import RecordingComm, make

S = jobs_pb2.JobState
HARDWARE = nodes_pb2.Hardware(cpus=2, memory_mb=1000)


def test_proc_counts_every_descendant_but_not_the_root_itself():
    code = "b = bytearray(60 << 20); b[::4096] = b'x' * len(b[::4096]); print(flush=True); input()"
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"\n"   # it holds its memory now
        measured = usage.descendants_usage(os.getpid(), usage.process_table())
        assert measured is not None and measured["rss_kb"] >= 60 << 10 and measured["max_rss_kb"] == measured["rss_kb"]
        grandchild_view = usage.descendants_usage(child.pid, usage.process_table())
        assert grandchild_view is not None and grandchild_view["rss_kb"] == 0       # it has no children
    finally:
        child.kill()
        child.wait()
    assert usage.descendants_usage(child.pid, usage.process_table()) is None          # gone


def test_ctld_keeps_what_a_heartbeat_says_of_that_nodes_running_jobs_only(tmp_path):
    clock, comm = ManualClock(), RecordingComm()
    c, _ = make(tmp_path, clock=clock, comm=comm)

    async def scenario() -> int:
        c.on_register(nodes_pb2.Register(name="n1", hardware=HARDWARE), NodeLink())
        c.on_register(nodes_pb2.Register(name="n2", hardware=HARDWARE), NodeLink())
        [job_id] = await c.submit("alice", [jobs_pb2.JobSpec(script="#!/bin/sh\ntrue\n")])
        await c.schedule_once()
        return job_id
    job_id = asyncio.run(scenario())
    job = c.jobs[job_id]
    here = job.allocation.slices[0].node
    elsewhere = "n2" if here == "n1" else "n1"
    assert c.live_usage(job) is None                                  # no heartbeat has measured it yet
    measured = jobs_pb2.JobUsage(job_id=job_id, attempt=1, cpu_seconds=2.5, max_rss_kb=1024, node="forged")
    c.on_heartbeat(elsewhere, nodes_pb2.Heartbeat(usage=[measured, jobs_pb2.JobUsage(job_id=999)]))
    assert c.live_usage(job) is None and not c.nodes[elsewhere].usage  # not its job: dropped
    c.on_heartbeat(here, nodes_pb2.Heartbeat(usage=[measured]))
    got = c.live_usage(job)
    assert got is not None and (got.cpu_seconds, got.max_rss_kb, got.node) == (2.5, 1024, here)
    stale = jobs_pb2.JobUsage(job_id=job_id, attempt=7)
    c.on_heartbeat(here, nodes_pb2.Heartbeat(usage=[stale]))
    assert c.live_usage(job) is None                                  # another attempt's figures
    c.on_heartbeat(here, nodes_pb2.Heartbeat(usage=[measured]))
    c.on_job_finished(here, nodes_pb2.JobOutcome(job_id=job_id, attempt=1, state=S.COMPLETED, end_time=1.0))
    assert job_id not in c.nodes[here].usage                          # its resources, and figures, released


def test_the_sampler_reads_proc_once_for_all_jobs_without_a_cgroup(monkeypatch):
    reads: list[str] = []
    real = usage.process_table
    monkeypatch.setattr(usage, "process_table", lambda proc="/proc": reads.append(proc) or real(proc))
    sampler = usage.Sampler(None)
    assert sampler.measure(os.getpid(), "") is not None and sampler.measure(os.getpid(), "") is not None
    assert reads == ["/proc"]
