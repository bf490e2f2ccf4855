"""qstat -T: the estimated start time (the scheduler's planned start) in place of the
elapsed time, jobs in start order, as OpenPBS's qstat.c (cnvt_est_start_time,
cmp_est_time) prints them."""
from __future__ import annotations

import pytest

from hpcq.api import jobs_pb2 as pb
from hpcq.shims.pbs import qstat
from hpcq.shims.pbs import qstat_format as qf
from tests.unit.test_qstat_format import CLUSTER, NOW, JobBuilder, at, views

T_HEADER = f"""
pbshost: 
{'':75}Est
{'':60}Req'd  Req'd   Start
Job ID          Username Queue    Jobname    SessID NDS TSK Memory Time  S Time
--------------- -------- -------- ---------- ------ --- --- ------ ----- - -----
"""  # noqa: W291 - PBS pads its columns with spaces


pytestmark = pytest.mark.usefixtures("utc")


def planned(job_id: int, name: str, start: str | None) -> pb.Job:
    job = JobBuilder(job_id, name).reason("Resources").submitted("2026-11-23 12:39:03").walltime(3600).build()
    if start:
        job.planned_start_time = at(start)
    return job


def est(start: str, *, wide: bool = False) -> str:
    return qf.est_start_time(planned(30, "x", start), NOW, wide=wide)


def test_the_short_form_narrows_with_distance():            # NOW is Monday 2026-11-23 12:39:11
    assert est("2026-11-23 15:34:00") == "15:34"           # today
    assert est("2026-11-25 15:34:00") == "We 15"           # within 7 days
    assert est("2026-12-20 08:00:00") == "Dec"             # this year
    assert est("2029-02-01 08:00:00") == "2029"            # within 5 years
    assert est("2032-02-01 08:00:00") == ">5yrs"


def test_the_wide_form_spells_it_out():
    assert est("2026-11-23 15:34:00", wide=True) == "Today 15:34"
    assert est("2026-11-28 15:34:00", wide=True) == "Sat 15:34"              # this week (Sunday to Saturday)
    assert est("2026-11-30 15:34:00", wide=True) == "Mon Nov 30 15:34"       # next week, same year
    assert est("2027-02-10 15:34:00", wide=True) == "Wed Feb 10 2027 15:34"


def test_no_plan_a_past_plan_or_a_job_not_queued_shows_dashes():
    assert qf.est_start_time(planned(30, "x", None), NOW) == "--"
    assert est("2026-11-23 12:00:00") == "--"
    held = planned(31, "h", "2026-11-23 15:34:00")
    held.state = pb.HELD
    assert qf.est_start_time(held, NOW) == "--"


def test_qstat_T_lists_running_jobs_then_queued_ones_by_planned_start():
    late, soon, unplanned = (planned(25, "late", "2026-11-24 09:00:00"), planned(26, "soon", "2026-11-23 13:10:00"),
                             planned(27, "unplanned", None))
    jobs = [*views(), late, soon, unplanned]
    assert qf.render_alt(jobs, NOW, CLUSTER, qf.AltOptions(est_start=True)) == T_HEADER + """\
21.pbshost      pbsuser  workq    run_one     18440   1   1  200mb 00:10 R    --
22.pbshost      pbsuser  workq    run_two     18542   1   1    --    --  R    --
26.pbshost      pbsuser  workq    soon          --    1   1    --  01:00 Q 13:10
25.pbshost      pbsuser  workq    late          --    1   1    --  01:00 Q Tu 09
23.pbshost      pbsuser  workq    queued_one    --    1   1    --  01:00 Q    --
24.pbshost      pbsuser  workq    held_one      --    1   1    --    --  H    --
27.pbshost      pbsuser  workq    unplanned     --    1   1    --  01:00 Q    --
"""


def test_qstat_T_wide_header_and_unpadded_times():
    text = qf.render_alt([planned(26, "soon", "2026-11-23 13:10:00")], NOW, CLUSTER,
                         qf.AltOptions(est_start=True, wide=True))
    lines = text.split("\n")
    assert lines[2] == f"{'':99}{'':15}Est" and lines[3] == f"{'':99}Req'd  Req'd   Start"
    assert lines[6].endswith("  --  01:00 Q Today 13:10")


def test_qstat_T_is_an_alternate_format_option():
    q = qstat.parse(["-T"])
    assert q.alt and q.alt_options.est_start
    assert not qstat.parse(["-a"]).alt_options.est_start
