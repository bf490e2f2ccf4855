"""A submission ctld refuses, as sbatch and qsub word it: ctld's message starts with a
stable token, each dialect has its own words and exit code for it."""
from __future__ import annotations

import pytest

from hpcq.errors import HpcqError
from hpcq.shims import errors
from hpcq.shims.slurm import sbatch

FAILED = "sbatch: error: Batch job submission failed: "


def refused(token: str, detail: str, code: str = "INVALID_ARGUMENT") -> HpcqError:
    return HpcqError(code, f"{token}: {detail}")


def test_unknown_partition():                        # sbatch_unknown_partition.txt
    e = sbatch.submission_failure(refused("UNKNOWN_QUEUE", "queue 'nosuchpart' does not exist"), "nosuchpart")
    assert (e.text, e.exit_code) == ("sbatch: error: invalid partition specified: nosuchpart\n"
                                     f"{FAILED}Invalid partition name specified", 1)


def test_bad_dependency_is_slurms_one_line():       # sbatch_dependency_bad_syntax.txt
    e = sbatch.submission_failure(refused("BAD_DEPENDENCY", "dependency: foo:1: unknown type"), "")
    assert (e.text, e.exit_code) == (f"{FAILED}Job dependency problem", 1)


@pytest.mark.parametrize("token, words", [
    ("TOO_BIG", "Requested node configuration is not available"),
    ("TIME_LIMIT", "Requested time limit is invalid (missing or exceeds some limit)"),
    ("QUEUE_CLOSED", "Required partition not available (inactive or drain)"),
    ("QUEUE_ACCESS", "Access/permission denied"),
    ("BAD_SPEC", "Invalid job specification"),
])
def test_refusals_keep_ctlds_detail_first(token, words):
    e = sbatch.submission_failure(refused(token, "what ctld says"), "")
    assert (e.text, e.exit_code) == (f"sbatch: error: what ctld says\n{FAILED}{words}", 1)


def test_full_queue():
    e = sbatch.submission_failure(refused("MAX_JOB_COUNT", "100000 jobs are queued", "RESOURCE_EXHAUSTED"), "")
    assert e.text.endswith(f"{FAILED}Resource temporarily unavailable")


def test_untokened_failures_keep_the_old_wording():
    e = sbatch.submission_failure(HpcqError("UNAVAILABLE", "connection refused"), "")
    assert e.text.splitlines()[0] == f"{FAILED}Unable to contact slurm controller (connect failure)"


@pytest.mark.parametrize("token, text, code", [
    ("UNKNOWN_QUEUE", "qsub: Unknown queue", 170),                                 # errors_and_exit_codes.txt
    ("TOO_BIG", "qsub: Job exceeds queue and/or server resource limits\nqsub: detail", 188),
    ("TIME_LIMIT", "qsub: Job exceeds queue and/or server resource limits\nqsub: detail", 188),
    ("QUEUE_CLOSED", "qsub: Queue is not enabled", 173),
    ("QUEUE_ACCESS", "qsub: Access to queue is denied", 174),
    ("MAX_JOB_COUNT", "qsub: Maximum number of jobs already in queue\nqsub: detail", 198),
    ("BAD_DEPENDENCY", "qsub: Invalid dependency\nqsub: detail", 206),
    ("BAD_SPEC", "qsub: Illegal attribute or resource value\nqsub: detail", 166),
])
def test_qsub_words(token, text, code):
    e = errors.pbs_failure("qsub", refused(token, "detail"), server="pbshost")
    assert (e.text, e.exit_code) == (text, code)


def test_error_tokens():
    assert errors.error_token(HpcqError("X", "TOO_BIG: a: b")) == ("TOO_BIG", "a: b")
    assert errors.error_token(HpcqError("X", "queue x: closed")) == ("", "queue x: closed")
