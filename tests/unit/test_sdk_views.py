"""hpcq.Client's typed views: what each field of a JobInfo, ActionResult and NodeInfo says
for the records ctld sends, and the Client turning every answer into them (over a fake
transport that answers as ctld would)."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from hpcq import ActionResult, Client, JobInfo, JobState, NodeInfo
from hpcq.api import admin_pb2, jobs_pb2, nodes_pb2

T0 = 1_760_000_000.0


def running_task() -> jobs_pb2.Job:
    return jobs_pb2.Job(
        id=43, user="alice", state=jobs_pb2.RUNNING, queue="batch", submit_time=T0, start_time=T0 + 5,
        spec=jobs_pb2.JobSpec(name="fold", account="physics"), walltime_seconds=600, attempt=1, priority=7,
        array_job_id=42, array_task_id=0,
        allocation=jobs_pb2.Allocation(slices=[jobs_pb2.Allocation.Slice(node="node2", cpus=2),
                                               jobs_pb2.Allocation.Slice(node="node1", cpus=2)]))


def test_a_running_array_task():
    job = JobInfo.from_proto(running_task())
    assert (job.id, job.name, job.user, job.account, job.queue) == (43, "fold", "alice", "physics", "batch")
    assert job.state is JobState.RUNNING and not job.is_finished
    assert job.submit_time == datetime.fromtimestamp(T0, UTC)
    assert job.start_time == job.submit_time + timedelta(seconds=5)
    assert job.end_time is None
    assert job.walltime == timedelta(minutes=10)
    assert job.nodes == ("node2", "node1")           # the allocation's order
    assert (job.array_job_id, job.array_task_id) == (42, 0)   # task 0 is a task, not "none"
    assert job.exit_code is None and job.signal is None       # nothing to say before the end
    assert job.proto.spec.name == "fold"


def test_a_finished_job_and_one_that_was_never_an_array():
    record = jobs_pb2.Job(id=7, state=jobs_pb2.FAILED, exit_code=0, signal=9, end_time=T0, reason="Signal")
    job = JobInfo.from_proto(record)
    assert job.is_finished and job.state.slurm_name == "FAILED" and job.state.pbs_code == "F"
    assert job.exit_code == 0 and job.signal == 9
    assert job.array_job_id is None and job.array_task_id is None
    assert job.walltime is None and job.nodes == () and job.start_time is None


def test_views_compare_by_value_and_are_frozen():
    a, b = JobInfo.from_proto(running_task()), JobInfo.from_proto(running_task())
    assert a == b and hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.state = JobState.COMPLETED  # type: ignore[misc]


def test_action_results_and_nodes():
    refused = ActionResult.from_proto(jobs_pb2.JobActionResult(
        job_id=5, code=jobs_pb2.JobActionResult.NOT_PERMITTED, message="not your job"))
    assert (refused.job_id, refused.code, refused.ok, refused.message) == (5, "NOT_PERMITTED", False, "not your job")
    assert ActionResult.from_proto(jobs_pb2.JobActionResult(job_id=6)).ok

    node = NodeInfo.from_proto(admin_pb2.Node(
        name="node1", state=admin_pb2.NODE_DRAINING, reason="disk", connected=True, cpus_allocated=2,
        hardware=nodes_pb2.Hardware(cpus=8, memory_mb=4096, gpus=[nodes_pb2.Gpu(index=0)], features=["ssd"]),
        job_ids=[43], last_seen=T0))
    assert (node.state, node.reason, node.cpus, node.cpus_allocated, node.gpus) == ("DRAINING", "disk", 8, 2, 1)
    assert node.features == ("ssd",) and node.job_ids == (43,)
    assert node.last_seen == datetime.fromtimestamp(T0, UTC)


class Ctld:
    """A transport answering as ctld would, from a table of jobs."""

    def __init__(self, *jobs: jobs_pb2.Job) -> None:
        self.jobs = {j.id: j for j in jobs}
        self.calls: list[str] = []

    def unary(self, method: str, request: bytes, timeout: float) -> bytes:
        self.calls.append(method)
        if method == "/hpcq.v1.Jobs/Get":
            ids = jobs_pb2.GetJobsRequest.FromString(request).job_ids
            return jobs_pb2.GetJobsResponse(jobs=[self.jobs[i] for i in ids if i in self.jobs],
                                            unknown_ids=[i for i in ids if i not in self.jobs],
                                            cluster="anchor").SerializeToString()
        if method == "/hpcq.v1.Jobs/List":
            return jobs_pb2.ListJobsResponse(jobs=list(self.jobs.values())).SerializeToString()
        if method == "/hpcq.v1.Jobs/Cancel":
            ids = jobs_pb2.JobActionRequest.FromString(request).job_ids
            return jobs_pb2.JobActionResponse(results=[jobs_pb2.JobActionResult(job_id=i) for i in ids]) \
                .SerializeToString()
        raise AssertionError(f"unexpected call {method}")

    def stream(self, method: str, request: bytes, timeout: float | None = None) -> Iterator[bytes]:
        assert method == "/hpcq.v1.Jobs/Watch"
        for job in self.jobs.values():
            yield jobs_pb2.JobEvent(job=job).SerializeToString()
            yield jobs_pb2.JobEvent(job=jobs_pb2.Job(id=job.id, state=jobs_pb2.COMPLETED)).SerializeToString()

    def close(self) -> None:
        self.calls.append("close")


def test_the_client_answers_with_views_and_keeps_the_protobufs_reachable():
    ctld = Ctld(running_task())
    with Client(ctld) as client:
        [job], unknown = client.get([43, 99])
        assert job == JobInfo.from_proto(running_task()) and unknown == [99]
        assert client.cluster == "anchor"
        assert client.job(99) is None and client.job(43).state is JobState.RUNNING
        assert [j.id for j in client.list(states=[JobState.RUNNING])] == [43]
        [done] = client.wait([43])
        assert done.state is JobState.COMPLETED and done.exit_code == 0
        assert client.cancel([43]) == [ActionResult(43, "OK", "", proto=jobs_pb2.JobActionResult(job_id=43))]
        raw_jobs, _ = client.raw.get([43])
        assert raw_jobs == [running_task()]      # the low-level client: protobuf records
    assert ctld.calls[-1] == "close"
