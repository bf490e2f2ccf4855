"""An array on a real cluster as qstat -t/-J, squeue -r and scontrol show job N_i show
it: ctld's records (the pending rest on the array's own, a record per started task)
seen as PBS's array and subjobs and as Slurm's tasks."""
from __future__ import annotations

import pytest

from tests.conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("make_cluster", ["sqlite"], indirect=True)]


def test_an_array_seen_by_both_dialects(make_cluster, workdir):
    cluster = make_cluster(nodes=1, cpus=2)
    (workdir / "arr.sh").write_text("#!/bin/sh\nsleep 4\n")
    array_id = cluster.run("qsub", "-J", "1-3", "-N", "arr", "arr.sh", cwd=workdir).stdout.strip()
    number = array_id.split("[")[0]

    def states(*argv: str) -> list[tuple[str, str]]:
        lines = cluster.run("qstat", *argv).stdout.splitlines()[2:]
        return [(line.split()[0].split(".")[0], line.split()[4]) for line in lines]

    # Two CPUs: subjobs 1 and 2 run, 3 waits in the array's record.
    wait_until(lambda: states("-t") == [(f"{number}[]", "B"), (f"{number}[1]", "R"), (f"{number}[2]", "R"),
                                        (f"{number}[3]", "Q")], timeout=30, what="two subjobs running")
    assert states() == [(f"{number}[]", "B")]
    assert states("-Jt", f"{number}[]") == [(f"{number}[1]", "R"), (f"{number}[2]", "R"), (f"{number}[3]", "Q")]
    squeue = cluster.run("squeue", "-r", "-h", "-o", "%i %T").stdout.splitlines()
    assert squeue[0] == f"{number}_3 PENDING" and sorted(squeue[1:]) == [f"{number}_1 RUNNING",
                                                                         f"{number}_2 RUNNING"]
    shown = cluster.run("scontrol", "show", "job", f"{number}_3").stdout
    assert shown.startswith(f"JobId={number} ArrayJobId={number} ArrayTaskId=3 JobName=arr")
    assert "JobState=PENDING" in shown

    wait_until(lambda: states("-x", "-t", f"{number}[]") == [(f"{number}[]", "F"), (f"{number}[1]", "F"),
                                                             (f"{number}[2]", "F"), (f"{number}[3]", "F")],
               timeout=40, what="the array to finish")
    full = cluster.run("qstat", "-x", "-f", f"{number}[]").stdout
    assert "array_state_count = Queued:0 Running:0 Exiting:0 Expired:3" in full
