"""Which environment names a submit may carry: shell names and bash's exported functions."""
from __future__ import annotations

import pytest

from hpcq.api import jobs_pb2
from hpcq.ctld import jobs
from hpcq.ctld.errors import InvalidArgument


def spec(name: str) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(script="#!/bin/sh\ntrue\n", environment={name: "() {  module load x\n}"})


@pytest.mark.parametrize("name", ["PATH", "_x1", "BASH_FUNC_f%%", "BASH_FUNC_module%%", "BASH_FUNC_ml%%",
                                  "BASH_FUNC__module_raw%%", "BASH_FUNC_which%%", "BASH_FUNC_a-b.c:d%%"])
def test_accepted(name: str) -> None:
    jobs.validate(spec(name))


@pytest.mark.parametrize("name", ["", "1A", "A-B", "A=B", "BASH_FUNC_%%", "BASH_FUNC_f%", "BASH_FUNC_a b%%",
                                  "BASH_FUNC_a/b%%", "BASH_FUNC_a,b%%", "BASH_FUNC_a=b%%", "BASH_FUNC_é%%",
                                  "BASH_FUNC_f%%x", "BASH_FUNC_f\n%%"])
def test_refused_naming_the_variable(name: str) -> None:
    with pytest.raises(InvalidArgument, match="environment: invalid variable name"):
        jobs.validate(spec(name))
