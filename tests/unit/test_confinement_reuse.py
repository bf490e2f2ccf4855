"""A supervisor runs job after job: what one job's confinement did to the supervisor
itself must be undone before the next (hpcq.noded.enforce.JobConfinement)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hpcq.noded import enforce


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to narrow to one")
def test_the_fallback_gives_the_supervisor_its_cpus_back_once_the_job_has_started():
    cpus = sorted(os.sched_getaffinity(0))
    e = enforce.Enforcement(enforce.AFFINITY, host_cpus=cpus)
    limits = e.job_limits(1, 1, [len(cpus) - 1], 0)
    # prepare() narrows the calling process's affinity: do it in a child, as a supervisor would.
    code = ("import os, sys\n"
            "from hpcq.noded import enforce\n"
            f"job = enforce.JobConfinement({limits!r}, 'job_1.1.0.0')\n"
            "job.prepare(); job.enter()\n"
            "during = sorted(os.sched_getaffinity(0))\n"
            "job.leave()\n"
            "print(during, sorted(os.sched_getaffinity(0)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"{[cpus[-1]]} {cpus}"
