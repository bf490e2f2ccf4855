"""Job steps (srun) against a real ctld: only the job's owner, or staff, may create or
end a step of it; another user learns nothing more than that it is refused."""
from __future__ import annotations

import time

import pytest

from hpcq.api import jobs_pb2
from hpcq.client import Client
from hpcq.errors import HpcqError
from tests.security.conftest import SecureCluster

pytestmark = pytest.mark.integration


def waiting_job(owner: Client) -> int:
    return owner.submit_one(jobs_pb2.JobSpec(name="steps", script="#!/bin/sh\ntrue\n", submit_dir="/tmp",
                                             begin_time=time.time() + 3600))


def test_another_user_may_not_create_or_end_a_step(secure: SecureCluster, alice: Client, bob: Client) -> None:
    job_id = waiting_job(alice)
    for attempt in (lambda: bob.create_step(job_id, name="x"), lambda: bob.finish_step(job_id, 0, exit_code=0)):
        with pytest.raises(HpcqError) as refused:
            attempt()
        assert refused.value.code == "PERMISSION_DENIED"
    assert not secure.job(job_id).steps


def test_the_owner_is_told_a_job_that_is_not_running_has_no_steps(alice: Client) -> None:
    job_id = waiting_job(alice)
    with pytest.raises(HpcqError) as refused:
        alice.create_step(job_id, name="x")
    assert refused.value.code == "FAILED_PRECONDITION" and "JOB_NOT_RUNNING" in refused.value.message
