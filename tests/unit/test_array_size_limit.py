"""[ctld] max_array_size at submit: Slurm's MaxArraySize bounds an array's indices (they
must be below it), PBS's max_array_size the number of its subjobs."""
from __future__ import annotations

import asyncio

import pytest

from hpcq.api import jobs_pb2
from hpcq.ctld.errors import InvalidArgument
from tests.unit.controllers import make

SCRIPT = "#!/bin/sh\ntrue\n"


def array(tasks: str, dialect: int = jobs_pb2.DIALECT_SLURM) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(script=SCRIPT, dialect=dialect, array=jobs_pb2.ArraySpec(tasks=tasks))


def submit(controller, spec: jobs_pb2.JobSpec) -> list[int]:
    return asyncio.run(controller.submit("alice", [spec]))


def test_slurm_indices_must_be_below_max_array_size(tmp_path) -> None:
    c, store = make(tmp_path, max_array_size=10)
    assert submit(c, array("0-9"))
    assert submit(c, array("9"))
    with pytest.raises(InvalidArgument, match=r"BAD_ARRAY: array: index 10 is beyond the largest this cluster "
                                              r"allows \(9, \[ctld\] max_array_size\)"):
        submit(c, array("1,10"))
    store.close()


def test_pbs_subjobs_may_number_max_array_size(tmp_path) -> None:
    c, store = make(tmp_path, max_array_size=10)
    assert submit(c, array("100-109", jobs_pb2.DIALECT_PBS))      # ten subjobs, whatever their indices
    with pytest.raises(InvalidArgument, match=r"BAD_ARRAY: array: 11 subjobs, more than this cluster allows"):
        submit(c, array("1-11", jobs_pb2.DIALECT_PBS))
    store.close()


def test_the_default_is_slurms_1001(tmp_path) -> None:
    c, store = make(tmp_path)
    assert submit(c, array("0-1000"))
    with pytest.raises(InvalidArgument, match="BAD_ARRAY"):
        submit(c, array("1001"))
    store.close()
