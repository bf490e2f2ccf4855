"""sacct: its field language, rows, layouts, times and selection (the captured tables
themselves are replayed in tests/compat/test_slurm_goldens.py)."""
from __future__ import annotations

import calendar
import time
from datetime import datetime

import pytest

from hpcq.api import jobs_pb2 as pb
from hpcq.shims.errors import ShimError
from hpcq.shims.slurm import sacct
from hpcq.shims.slurm import sacct_format as sf

pytestmark = pytest.mark.usefixtures("utc")


def at(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%S")))


NOW = at("2026-11-23T13:10:06")


def job(job_id: int, state: int, *, name: str = "job", user: str = "root", start: str = "", end: str = "",
        exit_code: int = 0, signal: int = 0, cancelled_by: str = "") -> pb.Job:
    j = pb.Job(id=job_id, user=user, state=state, queue="batch", submit_time=at("2026-11-23T13:00:00"),
               exit_code=exit_code, signal=signal, cancelled_by=cancelled_by)
    j.spec.name, j.spec.account = name, "acct"
    if start:
        j.start_time = at(start)
        j.allocation.slices.add(node="n1", cpus=2)
    if end:
        j.end_time = at(end)
    return j


def test_field_names_are_prefixes_in_any_case_with_widths():
    columns = sf.parse_fields("jobid,JobN%20,state%-12,exitc,jobidr")
    assert [(c.field.name, c.width) for c in columns] == \
        [("JobID", -12), ("JobName", 20), ("State", -12), ("ExitCode", 8), ("JobIDRaw", -12)]
    with pytest.raises(sf.FieldError, match='Invalid field requested: "Bogus"'):
        sf.parse_fields("JobID,Bogus")
    # sacct reads what follows "%" as atoi does: "%.4" and "%0" are an empty column.
    assert [c.width for c in sf.parse_fields("jobid%5,state%.4,exitcode%0")] == [5, 0, 0]
    assert sf.cell("RUNNING", 0) == " "


def test_rows_steps_and_states():
    jobs = [job(1, pb.COMPLETED, start="2026-11-23T13:01:00", end="2026-11-23T13:02:03"),
            job(2, pb.CANCELLED, cancelled_by="nosuchuser-here", end="2026-11-23T13:01:00"),
            job(3, pb.PENDING), job(4, pb.RUNNING, start="2026-11-23T13:10:00")]
    text = sf.render(jobs, NOW, sf.parse_fields("JobID,JobName,State,ExitCode,Elapsed,Start,End"), parsable="P")
    assert text.splitlines() == [
        "JobID|JobName|State|ExitCode|Elapsed|Start|End",
        "1|job|COMPLETED|0:0|00:01:03|2026-11-23T13:01:00|2026-11-23T13:02:03",
        "1.batch|batch|COMPLETED|0:0|00:01:03|2026-11-23T13:01:00|2026-11-23T13:02:03",
        "2|job|CANCELLED by nosuchuser-here|0:0|00:00:00|2026-11-23T13:01:00|2026-11-23T13:01:00",
        "3|job|PENDING|0:0|00:00:00|Unknown|Unknown",
        "4|job|RUNNING|0:0|00:00:06|2026-11-23T13:10:00|Unknown",
        "4.batch|batch|RUNNING|0:0|00:00:06|2026-11-23T13:10:00|Unknown",
    ]


def test_fixed_columns_cut_with_a_plus_and_parsable_with_a_delimiter():
    j = job(11239, pb.CANCELLED, name="aa86acc9-590f-487f", cancelled_by="root")
    columns = sf.parse_fields("JobID,JobName,State")
    assert sf.render([j], NOW, columns).splitlines() == [
        "JobID           JobName      State ",
        "------------ ---------- ---------- ",
        "11239        aa86acc9-+ CANCELLED+ ",
    ]
    assert sf.render([j], NOW, columns, parsable="p", delimiter=";", header=False) == \
        "11239;aa86acc9-590f-487f;CANCELLED by 0;\n"


def test_killed_job_and_its_step():
    j = job(7, pb.TIMEOUT, start="2026-11-23T13:00:00", end="2026-11-23T13:01:00", signal=15)
    assert sf.render([j], NOW, sf.parse_fields("JobID,State,ExitCode"), parsable="P", header=False) == \
        "7|TIMEOUT|0:0\n7.batch|CANCELLED|0:15\n"


@pytest.mark.parametrize("text, expected", [
    ("now", "2026-11-23T13:10:06"), ("now-1hour", "2026-11-23T12:10:06"), ("now+30", "2026-11-23T13:10:36"),
    ("2026-11-23T13:07:35", "2026-11-23T13:07:35"), ("2026-11-20", "2026-11-20T00:00:00"),
    ("11/22", "2026-11-22T00:00:00"), ("11/22/25-08:30", "2025-11-22T08:30:00"), ("112225", "2025-11-22T00:00:00"),
    ("09:15", "2026-11-23T09:15:00"), ("midnight", "2026-11-23T00:00:00"), ("noon", "2026-11-23T12:00:00"),
])
def test_times(text, expected):
    assert sacct.parse_time(text, NOW) == at(expected)


@pytest.mark.parametrize("text", ["yesterday-ish", "now-5parsecs", "2026-13-01", "25:00", ""])
def test_bad_times(text):
    with pytest.raises(ShimError, match="Invalid time specification"):
        sacct.parse_time(text, NOW)


def test_options():
    q = sacct.parse(["-j", "5,6", "-j", "7", "-X", "-n", "-P", "--name=a,b", "-S", "now", "-u", "0", "-s", "CD,F"],
                    NOW, root=True)
    assert (q.job_ids, q.allocations_only, q.header, q.parsable, q.names) == ([5, 6, 7], True, False, "P", ["a", "b"])
    assert q.users == ["root"] and q.start == NOW and set(q.states) == {pb.COMPLETED, pb.FAILED}
    assert sacct.parse(["-b"], NOW, root=True).fields == sf.BRIEF_FIELDS


def test_defaults_your_own_jobs_since_midnight():
    q = sacct.parse([], NOW, user="alice", root=False)
    assert q.users == ["alice"] and q.start == datetime(2026, 11, 23).timestamp()
    assert sacct.parse(["-a"], NOW, user="alice", root=False).users == []
    assert sacct.parse(["-j", "4"], NOW, root=True).start is None        # -j: no time limit


def test_unknown_ids_and_array_task_ids_select_nothing():
    class Client:
        def get(self, ids):
            return [], list(ids)

        def list(self, **kw):
            raise AssertionError("no listing for -j")
    assert sacct.select(sacct.parse(["-j", "999999"], NOW, root=True), Client(), NOW) == []
    assert sacct.select(sacct.parse(["-j", "12_3"], NOW, root=True), Client(), NOW) == []


def test_selection_by_time_window():
    old = job(1, pb.COMPLETED, start="2026-11-22T10:00:00", end="2026-11-22T11:00:00")
    new = job(2, pb.COMPLETED, start="2026-11-23T10:00:00", end="2026-11-23T11:00:00")
    live = job(3, pb.RUNNING, start="2026-11-23T13:00:00")
    q = sacct.parse(["-S", "2026-11-23"], NOW, root=True)
    assert [j.id for j in (old, new, live) if sacct.wanted(j, q, NOW)] == [2, 3]


def test_option_errors():
    for argv, text in ((["-o", "JobID,Nope"], 'sacct: error: Invalid field requested: "Nope"'),
                       (["-c"], "sacct: error: -c/--completion is not supported by hpcq yet"),
                       (["-s", "ZZ"], "sacct: fatal: unrecognized job state value 'ZZ'"),
                       (["extra"], "sacct: error: Unknown arguments: extra")):
        with pytest.raises(ShimError) as e:
            sacct.parse(argv, NOW, root=True)
        assert (e.value.text, e.value.exit_code) == (text, 1)


def test_helpformat_lists_every_field():
    text = sacct.help_format()
    assert "JobIDRaw" in text and "TRESUsageOutTot" in text and len(text.split()) == len(sf.FIELDS)


def test_duplicates_show_a_requeued_jobs_earlier_runs_as_slurm_does():
    """Slurm 22.05 (checked on the anchor): after `scontrol requeue` of a running job, plain
    sacct shows the job as it is now; sacct -D first shows the run that was requeued."""
    requeued = job(51, pb.PENDING)
    requeued.runs.add(attempt=1, state=pb.CANCELLED, signal=15, start_time=at("2026-11-23T13:01:00"),
                      end_time=at("2026-11-23T13:01:05")).allocation.slices.add(node="n1", cpus=1)
    requeued.steps.add(step_id=0, attempt=1, state=pb.COMPLETED, start_time=at("2026-11-23T13:01:01"),
                       end_time=at("2026-11-23T13:01:02"), nodes=["n1"], tasks_per_node=[1], ntasks=1)
    fields = sf.parse_fields("JobID,State,ExitCode,Start,NodeList")
    assert sf.render([requeued], NOW, fields, parsable="P").splitlines() == [
        "JobID|State|ExitCode|Start|NodeList",
        "51|PENDING|0:0|Unknown|None assigned"]
    assert sf.render([requeued], NOW, fields, parsable="P", duplicates=True).splitlines() == [
        "JobID|State|ExitCode|Start|NodeList",
        "51|REQUEUED|0:0|2026-11-23T13:01:00|n1",
        "51.batch|CANCELLED|0:15|2026-11-23T13:01:00|n1",
        "51.0|COMPLETED|0:0|2026-11-23T13:01:01|n1",
        "51|PENDING|0:0|Unknown|None assigned"]
    q = sacct.parse(["-D", "-j", "51"], NOW, user="root")
    assert q.duplicates and q.job_ids == [51]
