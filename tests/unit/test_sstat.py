"""sstat: its options, field language, the spelling of its values and its layouts."""
from __future__ import annotations

import pytest

from hpcq.api.lite import jobs_pb2
from hpcq.shims.errors import ShimError
from hpcq.shims.slurm import sstat


def step(cpu: float = 3.7, rss_kb: int = 1164, max_rss_kb: int = 200 << 10) -> sstat.Step:
    usage = jobs_pb2.JobUsage(job_id=7, attempt=1, node="node1", cpu_seconds=cpu, rss_kb=rss_kb,
                              max_rss_kb=max_rss_kb)
    return sstat.Step(7, usage, False)


@pytest.mark.parametrize(("kb", "raw", "shown"), [
    (0, False, "0"), (1164, False, "1164K"), (200 << 10, False, "200M"), (1536, False, "1.50M"),
    (3 << 20, False, "3G"), (1164, True, "1191936")])
def test_memory_is_converted_only_while_nothing_is_lost(kb: int, raw: bool, shown: str):
    assert sstat.memory(kb, raw) == shown


def test_the_batch_step_line_in_columns_and_parsable():
    columns = sstat.parse_fields("JobID,AveCPU,MaxRSS,MaxRSSNode,AveRSS,NTasks")
    assert sstat.render([step()], columns).splitlines() == [
        "JobID            AveCPU     MaxRSS MaxRSSNode     AveRSS   NTasks ",
        "------------ ---------- ---------- ---------- ---------- -------- ",
        "7.batch        00:00:03       200M      node1      1164K        1 "]
    assert sstat.render([step()], columns, parsable="P").splitlines() == [
        "JobID|AveCPU|MaxRSS|MaxRSSNode|AveRSS|NTasks", "7.batch|00:00:03|200M|node1|1164K|1"]
    assert sstat.render([step()], columns, header=False, parsable="p") == "7.batch|00:00:03|200M|node1|1164K|1|\n"


def test_fields_are_prefixes_with_widths_and_the_default_is_sstats_list():
    assert [(f.name, w) for f, w in sstat.parse_fields("jobid%20,maxrss,avec")] == \
        [("JobID", 20), ("MaxRSS", 10), ("AveCPU", 10)]
    default = [f.name for f, _ in sstat.parse_fields(sstat.DEFAULT_FIELDS)]
    assert len(default) == 47 and default[:6] == ["JobID", "MaxVMSize", "MaxVMSizeNode", "MaxVMSizeTask",
                                                  "AveVMSize", "MaxRSS"]
    with pytest.raises(ShimError, match='sstat: error: Invalid field requested: "Bogus"'):
        sstat.parse(["-j", "7", "-o", "JobID,Bogus"])


def test_jobs_come_from_j_or_the_first_operand_and_only_the_batch_step_is_measured():
    assert sstat.parse(["-j", "7,8.batch", "-j", "7"]).job_ids == [7, 8]
    assert sstat.parse(["9"]).job_ids == [9]
    with pytest.raises(ShimError, match=r"batch step only, not 7\.0"):
        sstat.parse(["-j", "7.0"])


def test_no_job_is_sstats_error(capsys: pytest.CaptureFixture[str]):
    assert sstat.main([]) == 1
    assert capsys.readouterr().err == "sstat: error: You didn't give me any jobs to stat.\n"


def test_helpformat_lists_every_field_four_to_a_line(capsys: pytest.CaptureFixture[str]):
    assert sstat.main(["-e"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "AveCPU            AveCPUFreq        AveDiskRead       AveDiskWrite     "
    assert sum(len(line.split()) for line in lines) == len(sstat.FIELDS)
