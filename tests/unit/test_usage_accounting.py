"""A job's CPU time split into user and system time: sacct's UserCPU, SystemCPU and
TotalCPU and qstat -f's resources_used.cput are one figure, read three ways."""
from __future__ import annotations

import calendar
import time

import pytest

from hpcq.api import jobs_pb2 as pb
from hpcq.shims.pbs import qstat_format
from hpcq.shims.slurm import sacct_format as sf

pytestmark = pytest.mark.usefixtures("utc")


def at(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%S")))


def finished(user: float, system: float) -> pb.Job:
    job = pb.Job(id=7, user="root", state=pb.COMPLETED, queue="batch", submit_time=at("2026-11-23T13:00:00"),
                 start_time=at("2026-11-23T13:00:00"), end_time=at("2026-11-23T13:02:00"),
                 cpu_seconds=user + system, user_cpu_seconds=user, system_cpu_seconds=system, max_rss_kb=2048)
    job.allocation.slices.add(node="n1", cpus=1)
    return job


def sacct(job: pb.Job) -> list[list[str]]:
    text = sf.render([job], at("2026-11-23T13:10:00"), sf.parse_fields("JobID,UserCPU,SystemCPU,TotalCPU"),
                     header=False, parsable="P")
    return [line.split("|") for line in text.splitlines()]


def test_user_and_system_cpu_add_up_to_total_cpu_on_every_row():
    assert sacct(finished(75.5, 4.25)) == [["7", "01:15.500", "00:04.250", "01:19.750"],
                                           ["7.batch", "01:15.500", "00:04.250", "01:19.750"]]


def test_qstat_cput_is_the_same_total():
    attributes = dict(qstat_format.full_attributes(finished(75.5, 4.25), at("2026-11-23T13:10:00"), "c"))
    assert attributes["resources_used.cput"] == "00:01:19"


def test_a_record_without_the_split_shows_its_whole_cpu_as_user_time():
    job = finished(0, 0)
    job.cpu_seconds = 12.0
    assert sacct(job)[0] == ["7", "00:12.000", "00:00.000", "00:12.000"]


def test_an_srun_step_shows_its_own_cpu_not_the_jobs_split():
    job = finished(75.5, 4.25)
    job.steps.add(step_id=0, name="hostname", ntasks=1, cpus_per_task=1, nodes=["n1"], tasks_per_node=[1],
                  state=pb.COMPLETED, start_time=job.start_time, end_time=job.end_time, cpu_seconds=3.0)
    assert sacct(job)[2] == ["7.0", "00:03.000", "00:00.000", "00:03.000"]
