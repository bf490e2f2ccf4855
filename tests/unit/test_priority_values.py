"""A fixed priority (sbatch --priority, scontrol update Priority=) is a decimal of ASCII
digits up to 2^31-1; anything else is Slurm's refusal, never int()'s error (the fuzzer
found a 5,000-digit --priority crashing sbatch with int()'s digit limit)."""
import io

import pytest

from hpcq.shims.errors import ShimError
from hpcq.shims.slurm import options, scontrol
from hpcq.shims.submit_context import SubmitContext

CTX = SubmitContext(cwd="/tmp", host="vm", user="alice", environ={"PATH": "/bin"}, now=1795439285.0)
REFUSED = ["", "-1", "²", "１", "2147483648", "1" * 5000, "12x"]  # a fullwidth digit


def sbatch(value: str):
    return options.parse([f"--priority={value}", "--wrap", "true"], CTX, io.BytesIO(b""))


def test_sbatch_priority():
    assert sbatch("0").spec.priority == 0 and sbatch("2147483647").spec.priority == 2**31 - 1
    for value in REFUSED:
        with pytest.raises(ShimError) as e:
            sbatch(value)
        assert e.value.text == f"sbatch: error: Invalid --priority value: {value}", value


def test_scontrol_update_priority():
    _ids, spec, fields = scontrol.build_update([("JobId", "7"), ("Priority", "2147483647")])
    assert spec.priority == 2**31 - 1 and "priority" in fields
    for value in REFUSED:
        with pytest.raises(ShimError) as e:
            scontrol.build_update([("JobId", "7"), ("Priority", value)])
        assert (e.value.text, e.value.exit_code) == (f"Invalid Priority value: {value}\nRequest aborted", 1), value
