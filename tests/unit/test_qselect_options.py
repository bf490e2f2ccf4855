"""qselect's criteria (qselect.txt is replayed in tests/compat)."""
from __future__ import annotations

import pytest

from hpcq.api import jobs_pb2 as pb
from hpcq.shims.errors import ShimError
from hpcq.shims.pbs import qselect


def job(job_id: int, state: int = pb.PENDING, *, user: str = "pbsuser", name: str = "x", walltime: int = 0,
        reason: str = "None", nice: int = 0, account: str = "", requeue: bool | None = None) -> pb.Job:
    j = pb.Job(id=job_id, user=user, state=state, queue="workq", reason=reason, walltime_seconds=walltime)
    j.spec.name, j.spec.nice, j.spec.account = name, nice, account
    if requeue is not None:
        j.spec.requeue = requeue
    return j


JOBS = [job(21, pb.RUNNING, name="run_one", walltime=1200), job(22, pb.RUNNING, walltime=600),
        job(23, walltime=1200, nice=-10, account="lab"), job(24, pb.HELD, reason="JobHeldUser", requeue=False),
        job(25, reason="Dependency"), job(20, pb.COMPLETED), job(19, user="root")]


def ids(*argv: str) -> list[str]:
    return qselect.select(qselect.parse(list(argv)), JOBS, "pbshost")


def test_criteria():
    assert ids() == ["19.pbshost", "21.pbshost", "22.pbshost", "23.pbshost", "24.pbshost", "25.pbshost"]
    assert ids("-s", "R") == ["21.pbshost", "22.pbshost"]
    assert ids("-s", "QH") == ["19.pbshost", "23.pbshost", "24.pbshost", "25.pbshost"]
    assert ids("-u", "root") == ["19.pbshost"] and ids("-N", "run_one") == ["21.pbshost"]
    assert ids("-x", "-s", "F") == ["20.pbshost"]
    assert ids("-l", "walltime.gt.00:15:00") == ["21.pbshost", "23.pbshost"]
    assert ids("-l", "walltime.le.600,ncpus.eq.1") == ["22.pbshost"]
    assert ids("-h", "u") == ["24.pbshost"] and ids("-h", "s") == ["25.pbshost"]
    assert ids("-p", "gt.0") == ["23.pbshost"] and ids("-A", "lab") == ["23.pbshost"]
    assert ids("-r", "n") == ["24.pbshost"] and ids("-J") == []


@pytest.mark.parametrize("argv, letter", [(["-s", "Z"], "s"), (["-r", "x"], "r"), (["-h", "q"], "h"),
                                          (["-l", "walltime>5"], "l"), (["-l", "ncpus.gt.many"], "l"),
                                          (["-p", "high"], "p")])
def test_illegal_values(argv, letter):
    with pytest.raises(ShimError) as e:
        qselect.parse(argv)
    assert e.value.text.startswith(f"qselect: illegal -{letter} value\nusage: qselect") and e.value.exit_code == 2


def test_not_yet():
    with pytest.raises(ShimError, match="qselect: -a is not supported by hpcq yet"):
        qselect.parse(["-a", "1200"])
