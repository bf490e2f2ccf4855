"""Each OpenPBS capture session replayed: the commands before a case run first (a qhold
before the qstat that shows it), what happened meanwhile on the server (a job ending)
is applied as an event, and the case's output — stderr then stdout, through the same
``| grep`` or ``| head`` — is compared after normalize().

Cases that cannot match are listed in docs/compat.md with the reason.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from hpcq.api import jobs_pb2
from hpcq.errors import HpcqError
from hpcq.shims.pbs import pbsnodes, qalter, qdel, qhold, qrls, qselect, qsig, qstat, qsub
from tests.compat import captures, fake
from tests.compat import pbs_world as pw
from tests.compat.fake import FakeCluster
from tests.compat.normalize import normalize

S = jobs_pb2.JobState
MAINS = {"qsub": qsub.main, "qstat": qstat.main, "qdel": qdel.main, "qhold": qhold.main, "qrls": qrls.main,
         "qalter": qalter.main, "qselect": qselect.main, "qsig": qsig.main, "pbsnodes": pbsnodes.main}
Event = Callable[[FakeCluster], None]


@dataclass
class Session:
    """A capture file: the server before its first command, what happens between its
    commands, and the cases expected to match."""
    world: Callable[[], FakeCluster]
    matched: list[int]
    events: dict[int, Event] = field(default_factory=dict)   # before case n


def ends(job_id: int, state: int, end: str, *, signal: int = 0, exit_code: int = 0) -> Event:
    def event(world: FakeCluster) -> None:
        job = world.jobs[job_id]
        job.state, job.end_time, job.signal, job.exit_code = state, pw.t(end), signal, exit_code
        job.reason = "None"
    return event


def altered(world: FakeCluster) -> FakeCluster:
    """After qhold_qrls_qalter.txt: Q1 renamed and resized, R1's walltime raised by root, H1 held."""
    q1, r1 = world.jobs[23], world.jobs[21]
    q1.spec.name = "renamed"
    q1.walltime_seconds = q1.spec.walltime_seconds = r1.walltime_seconds = r1.spec.walltime_seconds = 1200
    q1.spec.resources.mem_per_node_mb = 50
    q1.spec.attributes["select"] = "1:ncpus=1:mem=50mb"
    return world


def dependency_world() -> FakeCluster:
    """dependencies.txt: jobs 0-10 done, P_ok (11) and P_bad (12) just started."""
    jobs = pw.history()[:11] + [pw.job(11, "p_ok", S.RUNNING, submit="12:38:30", start="12:38:30",
                                       command="-N p_ok -- /bin/sleep 5"),
                                pw.job(12, "p_bad", S.RUNNING, submit="12:38:30", start="12:38:30", cpu=1,
                                       command="-N p_bad fail3.sh")]
    world = pw.pbshost("12:38:31", jobs)
    world.next_id = 13
    return world


def dependents_submitted(world: FakeCluster) -> None:
    """The six jobs qsub made, as ctld holds them: waiting on their dependency."""
    for done in pw.history()[13:19]:
        waiting = pw.job(done.id, done.spec.name, submit="12:38:31", reason="Dependency",
                         command=done.spec.attributes["submit_arguments"], depend=done.spec.attributes["depend"])
        world.add(waiting)


def all_done(world: FakeCluster) -> None:
    for done in pw.history()[11:19]:
        world.add(done)


def exit_world() -> FakeCluster:
    """exit_status.txt: E3=28, WT=29, DL=30 (running until qdel), SG=31."""
    jobs = pw.history() + [
        pw.job(28, "exit3", S.FAILED, submit="12:46:21", start="12:46:21", end="12:46:21.9", exit_code=3),
        pw.job(29, "wallkill", S.TIMEOUT, submit="12:46:21", start="12:46:22", end="12:46:37", session=20805,
               walltime=5, signal=15, cpu=1, rss_kb=1292,
               command="-N wallkill -l walltime=00:00:05 -- /bin/sleep 100"),
        pw.job(30, "todelete", S.RUNNING, submit="12:46:21", start="12:46:23", session=20859, cpu=1,
               command="-N todelete -- /bin/sleep 100"),
        pw.job(31, "selfkill", S.FAILED, submit="12:46:21", start="12:46:26", end="12:46:26.5", signal=9),
    ]
    return pw.pbshost("12:46:40", jobs)


def array_world() -> FakeCluster:
    """array_job.txt: jobs 0-9 done; array 10 (``-J 1-3``) with subjobs 1 and 2 running
    and 3 queued. As ctld keeps it: the array's record holds the queued rest, each
    started subjob has a record of its own (ids PBS never shows)."""
    head = pw.job(10, "arr", submit="12:38:03", reason="Resources", command="-J 1-3 -N arr arr.sh")
    head.spec.array.tasks, head.array_job_id, head.array_tasks_pending = "1-3", 10, "3"
    tasks = []
    for record, index, cpu, session in ((101, 1, 0, 20011), (102, 2, 1, 20067)):
        task = pw.job(record, "arr", S.RUNNING, submit="12:38:03", start="12:38:03", cpu=cpu, session=session,
                      command="-J 1-3 -N arr arr.sh")
        task.spec.array.tasks, task.array_job_id, task.array_task_id = "1-3", 10, index
        tasks.append(task)
    world = pw.pbshost("12:38:03.5", pw.history()[:10] + [head, *tasks])
    world.next_id = 10
    return world


def array_done(world: FakeCluster) -> None:
    """Subjobs 1 and 2 ended; 3 ran last, as the array's own record (ctld's way)."""
    for record in (101, 102):
        ends(record, S.COMPLETED, "12:38:11")(world)
    head = world.jobs[10]
    head.array_tasks_pending, head.array_task_id = "", 3
    head.state, head.reason, head.start_time, head.end_time = S.COMPLETED, "None", pw.t("12:38:11"), pw.t("12:38:19")
    head.allocation.slices.add(node=pw.SERVER, cpus=1, cpu_ids=[0])
    world.now = pw.t("12:38:25")


def refuse_queue(world: FakeCluster) -> None:
    world.submit_error = HpcqError("INVALID_ARGUMENT", "UNKNOWN_QUEUE: queue 'nosuchq' does not exist")


def accept(world: FakeCluster) -> None:
    world.submit_error = None


def refuse_size(world: FakeCluster) -> None:
    """ctld refuses what no node of the queue could run (PBS queues it forever)."""
    world.submit_error = HpcqError("INVALID_ARGUMENT", "TOO_BIG: 1 node(s) with 64 CPUs, 0 MiB, 0 GPUs each exceed "
                                   "queue workq's nodes (largest: 2 CPUs, 24105 MiB)")


def _numbered(world: FakeCluster, next_id: int) -> FakeCluster:
    world.next_id = next_id
    return world


def finished_world() -> FakeCluster:
    """errors_and_exit_codes.txt: no live jobs."""
    world = pw.pbshost("12:39:50", pw.history())
    world.next_id = 27
    return world


SESSIONS: dict[str, Session] = {
    "qstat_views.txt": Session(pw.pbshost, list(range(1, 13))),
    "qhold_qrls_qalter.txt": Session(pw.pbshost, [*range(1, 12), *range(13, 26), 27]),
    "qselect.txt": Session(lambda: altered(pw.pbshost("12:39:35")), list(range(1, 18))),
    "qdel.txt": Session(lambda: altered(pw.pbshost("12:39:40")), [*range(1, 12), 15],
                        {5: ends(21, S.CANCELLED, "12:39:40", signal=15),
                         10: ends(22, S.CANCELLED, "12:39:41", signal=15)}),
    "dependencies.txt": Session(dependency_world, [*range(1, 7), 9, *range(11, 18)],
                                {7: dependents_submitted, 11: all_done}),
    "exit_status.txt": Session(exit_world, list(range(1, 8)),
                               {2: ends(30, S.CANCELLED, "12:46:26", signal=15)}),
    "errors_and_exit_codes.txt": Session(finished_world, [*range(1, 22), *range(23, 27)],
                                         {18: refuse_queue, 19: accept, 22: refuse_size, 23: accept}),
    "qstat_f_queued.txt": Session(pw.pbshost, [1]),
    "qstat_f_held.txt": Session(pw.pbshost, [1]),
    "qstat_f_json_queued.txt": Session(pw.pbshost, [1]),
    "qstat_f_json_queue_server.txt": Session(pw.pbshost, [1]),
    "qsub_output.txt": Session(lambda: _numbered(pw.pbshost("12:37:10", pw.history()[:2]), 2), [1, 2]),
    "pbsnodes.txt": Session(pw.pbshost, [6]),
    "array_job.txt": Session(array_world, [*range(1, 8), 9, 10, 11], {10: array_done}),
}
MATCHED = sorted(f"openpbs/{name}#{n}" for name, session in SESSIONS.items() for n in session.matched)


def _filter(text: str, filters: list[list[str]]) -> tuple[str, int]:
    """The output through ``| grep -E pat`` and ``| head -N``, and the pipeline's status."""
    code = 0
    for words in filters:
        lines = text.splitlines(keepends=True)
        if words[0] == "grep":
            lines = [line for line in lines if re.search(words[-1], line)]
            code = 0 if lines else 1
        elif words[0] == "head":
            lines = lines[:int(words[1].lstrip("-"))]
        text = "".join(lines)
    return text, code


def _run(c: captures.Case, world: FakeCluster, monkeypatch) -> tuple[str, int]:
    out = fake.run(MAINS[c.program], c.words[1:], world, monkeypatch, stdin=c.stdin)
    if c.filters:
        text, code = _filter(out.stdout, c.filters)
        return out.stderr + text, code
    return out.stderr + out.stdout, out.exit


@pytest.mark.parametrize("case_id", MATCHED)
def test_pbs_capture(case_id: str, monkeypatch, tmp_path) -> None:
    name, number = case_id.removeprefix("openpbs/").split("#")
    session = SESSIONS[name]
    cases = captures.read("openpbs", name)
    (tmp_path / "envjob.sh").write_text("#!/bin/sh\nenv | sort\n")
    (tmp_path / "arr.sh").write_text("#!/bin/sh\nenv | grep -E '^PBS_(ARRAY|JOBID)'\nsleep 8\n")
    monkeypatch.chdir(tmp_path)
    world = session.world()
    for c in cases[:int(number)]:
        n = int(c.id.split("#")[1])
        if n in session.events:
            session.events[n](world)
        if c.id == case_id:
            text, code = _run(c, world, monkeypatch)
            ids = world.jobs.keys()
            assert normalize(text, job_ids=ids) == normalize(c.stdout, job_ids=ids)
            assert code == c.exit or c.exit is None        # None: the capture did not record it
        elif c.is_shim and not c.as_root:
            _run(c, world, monkeypatch)            # what came before, for its effect
