"""Retries and requeues: what becomes of a job whose run ended (scheduler.after_run),
and the controller applying it."""
import asyncio
import time

import pytest

from hpcq.api import jobs_pb2, nodes_pb2
from hpcq.ctld.errors import InvalidArgument
from hpcq.ctld.nodes_state import NodeLink
from hpcq.ctld.scheduler import Finish, Hold, Requeue, RetryLimits, RunEnd, after_run
from hpcq.ctld.scheduler.retry import backoff
from tests.unit.controllers import make

S = jobs_pb2.JobState
NOW = 1_000_000.0
SITE = RetryLimits(backoff=30.0, backoff_max=100.0, max_batch_requeue=2)


def ended(state: str = "FAILED", attempt: int = 1, **asked) -> RunEnd:
    return RunEnd(state=state, attempt=attempt, **asked)


# -- the pure decision -------------------------------------------------------------------------

def test_backoff_doubles_from_its_base_up_to_its_cap():
    assert [backoff(n, 30.0, 100.0) for n in range(1, 6)] == [30.0, 60.0, 100.0, 100.0, 100.0]
    assert backoff(1000, 1.0, 0.0) == 2.0 ** 63            # no cap: large, but no overflow
    assert backoff(0, 30.0, 100.0) == 0.0 and backoff(3, 0.0, 100.0) == 0.0


def test_a_failed_job_that_asked_for_nothing_just_ends():
    assert after_run(ended("FAILED"), SITE, NOW) == Finish()


def test_a_failed_job_with_attempts_left_waits_its_backoff_as_begintime():
    assert after_run(ended("FAILED", 1, max_attempts=3), SITE, NOW) == Requeue(NOW + 30.0, "BeginTime")
    assert after_run(ended("FAILED", 2, max_attempts=3), SITE, NOW) == Requeue(NOW + 60.0, "BeginTime")
    assert after_run(ended("FAILED", 3, max_attempts=3), SITE, NOW) == Finish()


def test_the_job_own_backoff_overrides_the_site_and_zero_means_at_once():
    asked = dict(max_attempts=5, backoff=2.0, backoff_max=5.0)
    waits = [after_run(ended("FAILED", n, **asked), SITE, NOW).at - NOW for n in range(1, 5)]
    assert waits == [2.0, 4.0, 5.0, 5.0]
    at_once = RetryLimits(backoff=0.0, backoff_max=0.0)
    assert after_run(ended("FAILED", 1, max_attempts=2), at_once, NOW) == Requeue(NOW, "None")


@pytest.mark.parametrize("state", ["COMPLETED", "TIMEOUT", "OUT_OF_MEMORY", "CANCELLED"])
def test_only_failures_and_node_failures_are_retried(state):
    assert after_run(ended(state, 1, max_attempts=5), SITE, NOW) == Finish()


def test_a_cancelled_job_is_never_run_again():
    assert after_run(ended("FAILED", 1, cancelled=True, max_attempts=5), SITE, NOW) == Finish()
    assert after_run(ended("NODE_FAIL", 1, cancelled=True), SITE, NOW) == Finish()


def test_a_node_failure_requeues_at_once_then_holds_past_max_batch_requeue():
    assert after_run(ended("NODE_FAIL", 1), SITE, NOW) == Requeue(NOW, "NodeFail")
    assert after_run(ended("NODE_FAIL", 2), SITE, NOW) == Requeue(NOW, "NodeFail")
    assert after_run(ended("NODE_FAIL", 3), SITE, NOW) == Hold("JobHoldMaxRequeue")


def test_no_requeue_wins_over_retries_for_a_node_failure():
    assert after_run(ended("NODE_FAIL", 1, requeue=False), SITE, NOW) == Finish()
    assert after_run(ended("NODE_FAIL", 1, requeue=False, max_attempts=3), SITE, NOW) == Finish()


def test_a_node_failure_of_a_job_with_retries_counts_as_an_attempt():
    assert after_run(ended("NODE_FAIL", 1, max_attempts=2), SITE, NOW) == Requeue(NOW + 30.0, "BeginTime")
    assert after_run(ended("NODE_FAIL", 2, max_attempts=2), SITE, NOW) == Finish()


# -- the controller ------------------------------------------------------------------------------


def spec(**kwargs) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(script="#!/bin/sh\nfalse\n", **kwargs)


def test_asking_for_more_runs_than_the_site_allows_is_refused(tmp_path):
    c, store = make(tmp_path, retry_max_attempts=3)
    with pytest.raises(InvalidArgument, match=r"retry\.max_attempts: 4 is more than the 3 runs"):
        asyncio.run(c.submit("alice", [spec(retry=jobs_pb2.RetryPolicy(max_attempts=4))]))
    with pytest.raises(InvalidArgument, match=r"retry\.backoff_seconds"):
        asyncio.run(c.submit("alice", [spec(retry=jobs_pb2.RetryPolicy(max_attempts=2, backoff_seconds=-1))]))
    store.close()


def test_a_failed_run_is_retried_after_its_backoff_and_ends_failed_at_the_last(tmp_path):
    c, store = make(tmp_path, retry_backoff=1000.0)
    outcomes = []

    async def scenario():
        c.on_register(nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=2, memory_mb=1000)), NodeLink())
        [job_id] = await c.submit("alice", [spec(retry=jobs_pb2.RetryPolicy(max_attempts=2))])
        job = c.jobs[job_id]
        assert await c.schedule_once() == 1 and job.attempt == 1
        c.on_job_finished("n1", nodes_pb2.JobOutcome(job_id=job_id, attempt=1, state=S.FAILED, exit_code=3))
        outcomes.append((job.state, job.reason, job.end_time, job.exit_code))
        waiting_until = job.retry_time
        assert await c.schedule_once() == 0                    # the backoff holds it back
        job.retry_time = 1.0                                   # ... until its time has come
        assert await c.schedule_once() == 1 and job.attempt == 2
        c.on_job_finished("n1", nodes_pb2.JobOutcome(job_id=job_id, attempt=2, state=S.FAILED, exit_code=4))
        outcomes.append((job.state, job.reason, job.end_time > 0, job.exit_code))
        await asyncio.sleep(0.05)                              # the outcome's write
        return waiting_until
    started = time.time()
    waiting_until = asyncio.run(scenario())
    assert outcomes[0] == (S.WAITING, "BeginTime", 0.0, 3)
    assert outcomes[1] == (S.FAILED, "None", True, 4)
    assert started + 1000.0 <= waiting_until <= time.time() + 1000.0
    store.close()


def test_a_node_failure_past_max_batch_requeue_holds_the_job(tmp_path):
    c, store = make(tmp_path, max_batch_requeue=1)

    async def scenario():
        c.on_register(nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=2, memory_mb=1000)), NodeLink())
        [job_id] = await c.submit("alice", [spec()])
        job = c.jobs[job_id]
        seen = []
        for _ in range(2):
            assert await c.schedule_once() == 1
            c.lifecycle.run_ended(job, S.NODE_FAIL, "node n1 not responding", 0.0, 0.0)
            seen.append((job.state, job.reason))
        return seen
    assert asyncio.run(scenario()) == [(S.PENDING, "NodeFail"), (S.HELD, "JobHoldMaxRequeue")]
    store.close()
