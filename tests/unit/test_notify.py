"""Job notifications: which events a job's mail options ask for, and their words as Slurm
22.05 (agent.c mail_job_info) and OpenPBS (svr_mail.c) write them; the Notifier fed with
job records as Watchers publishes them; the Sender's mail program and webhook."""
from __future__ import annotations

import asyncio
import http.server
import json
import threading

import pytest

from hpcq import config
from hpcq.api import jobs_pb2
from hpcq.ctld import notify
from hpcq.ctld.mailer import Mail, Post, Sender, find_mail_program
from hpcq.ctld.notify import BEGIN, END, FAIL, REQUEUE, Change, Notifier
from hpcq.ctld.watch import Watchers

S = jobs_pb2.JobState


def slurm_job(state=S.PENDING, *, events="", users="", name="job", job_id=12, attempt=0, **fields) -> jobs_pb2.Job:
    spec = jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM, name=name, mail_events=events, mail_users=users)
    return jobs_pb2.Job(id=job_id, user="alice", state=state, attempt=attempt, spec=spec, **fields)


def pbs_job(state=S.PENDING, *, points="", users="", name="job", **fields) -> jobs_pb2.Job:
    spec = jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_PBS, name=name, mail_events=points, mail_users=users)
    return jobs_pb2.Job(id=12, user="alice", state=state, spec=spec, **fields)


# -- what changed ------------------------------------------------------------------------------

@pytest.mark.parametrize(("before", "state", "attempt", "kind"), [
    (None, S.PENDING, 0, None),
    ((S.PENDING, 0), S.RUNNING, 0, BEGIN),
    ((S.RUNNING, 0), S.RUNNING, 0, None),            # the node's start report after the scheduler's
    ((S.SUSPENDED, 0), S.RUNNING, 0, None),          # resumed, not begun
    ((S.RUNNING, 0), S.RUNNING, 1, BEGIN),           # requeued and started again, unseen between
    ((S.RUNNING, 0), S.COMPLETED, 0, END),
    ((S.PENDING, 0), S.CANCELLED, 0, END),
    ((S.COMPLETED, 0), S.COMPLETED, 0, None),        # published again: told once
    ((S.RUNNING, 0), S.PENDING, 1, REQUEUE),
    ((S.HELD, 0), S.PENDING, 0, None),
])
def test_change_between_records(before, state, attempt, kind):
    c = notify.change(before, slurm_job(state, attempt=attempt))
    assert (c.kind if c else None) == kind


def test_a_job_first_heard_of_after_a_restart_is_told_of_only_for_what_happens_since():
    began_before = slurm_job(S.RUNNING, start_time=100.0)
    assert notify.change(None, began_before, since=500.0) is None        # an srun step published it again
    assert notify.change(None, slurm_job(S.RUNNING, start_time=600.0), since=500.0).kind == BEGIN
    assert notify.change(None, slurm_job(S.COMPLETED, start_time=100.0, end_time=600.0), since=500.0).kind == END
    assert notify.change(None, slurm_job(S.COMPLETED, end_time=400.0), since=500.0) is None


@pytest.mark.parametrize(("events", "kind", "state", "mail"), [
    ("END", END, S.COMPLETED, END),
    ("END", END, S.FAILED, END),
    ("FAIL", END, S.COMPLETED, None),
    ("FAIL", END, S.TIMEOUT, FAIL),
    ("END,FAIL", END, S.FAILED, FAIL),               # job_completion_logger: FAIL first for a failure
    ("END,FAIL", END, S.CANCELLED, END),
    ("BEGIN", BEGIN, S.RUNNING, BEGIN),
    ("BEGIN", END, S.COMPLETED, None),
    ("ALL", BEGIN, S.RUNNING, BEGIN),
    ("ALL", REQUEUE, S.PENDING, REQUEUE),
    ("END", REQUEUE, S.PENDING, None),
    ("NONE", END, S.COMPLETED, None),
    ("", END, S.COMPLETED, None),
])
def test_slurm_mail_types_select_the_mail(events, kind, state, mail):
    assert notify.mail_event(Change(kind, slurm_job(state, events=events))) == mail


@pytest.mark.parametrize(("points", "kind", "state", "mail"), [
    ("e", END, S.COMPLETED, END),
    ("e", END, S.FAILED, END),
    ("b", BEGIN, S.RUNNING, BEGIN),
    ("a", END, S.COMPLETED, None),
    ("", END, S.CANCELLED, FAIL),                    # PBS's default Mail_Points is a
    ("ae", END, S.TIMEOUT, FAIL),                    # aborted: the abort mail, not the end one
    ("e", END, S.NODE_FAIL, END),
    ("n", END, S.CANCELLED, None),
])
def test_pbs_mail_points_select_the_mail(points, kind, state, mail):
    assert notify.mail_event(Change(kind, pbs_job(state, points=points))) == mail


def test_pbs_subjobs_mail_only_with_j():
    task = pbs_job(S.COMPLETED, points="e", array_job_id=11, array_task_id=2)
    assert notify.mail_event(Change(END, task)) is None
    task.spec.mail_events = "ej"
    assert notify.mail_event(Change(END, task)) == END


# -- words -------------------------------------------------------------------------------------

def test_slurm_subjects():
    ended = slurm_job(S.COMPLETED, submit_time=1000.0, start_time=1010.0, end_time=1015.0)
    assert notify.slurm_subject(ended, END, 0) == \
        "Slurm Job_id=12 Name=job Ended, Run time 00:00:05, COMPLETED, ExitCode 0"
    failed = slurm_job(S.FAILED, exit_code=3, start_time=1.0, end_time=90_062.0)
    assert notify.slurm_subject(failed, FAIL, 0) == \
        "Slurm Job_id=12 Name=job Failed, Run time 1-01:01:01, FAILED, ExitCode 3"
    killed = slurm_job(S.CANCELLED, signal=9, start_time=1.0, end_time=2.0)
    assert notify.slurm_subject(killed, END, 0) == "Slurm Job_id=12 Name=job Ended, Run time 00:00:01, CANCELLED"
    began = slurm_job(S.RUNNING, submit_time=1000.0, start_time=1062.0)
    assert notify.slurm_subject(began, BEGIN, 0) == "Slurm Job_id=12 Name=job Began, Queued time 00:01:02"
    assert notify.slurm_subject(began, "TIME_LIMIT_80", 1062.0 + 48) == \
        "Slurm Job_id=12 Name=job Reached 80% of time limit, Run time 00:00:48"
    task = slurm_job(S.COMPLETED, job_id=14, start_time=1.0, end_time=3.0, array_job_id=11, array_task_id=3)
    assert notify.slurm_subject(task, END, 0) == \
        "Slurm Array Task Job_id=11_3 (14) Name=job Ended, Run time 00:00:02, COMPLETED, ExitCode 0"


def test_a_job_name_cannot_add_a_header():
    job = slurm_job(S.RUNNING, name="x\nBcc: everyone", submit_time=1.0, start_time=1.0)
    assert "\n" not in notify.slurm_subject(job, BEGIN, 0)


def test_pbs_messages():
    ended = pbs_job(S.COMPLETED, name="sim", start_time=10.0, end_time=15.0, cpu_seconds=4.0, max_rss_kb=2048)
    ended.allocation.slices.add(node="n1", cpus=2)
    subject, body = notify.pbs_message(ended, END, "server")
    assert subject == "PBS JOB 12.server"
    assert body.splitlines() == [
        "PBS Job Id: 12.server", "Job Name:   sim", "Execution terminated", "Exit_status=0",
        "resources_used.cput=00:00:04", "resources_used.mem=2048kb", "resources_used.ncpus=2",
        "resources_used.walltime=00:00:05"]
    subject, body = notify.pbs_message(pbs_job(S.RUNNING, name="sim"), BEGIN, "server")
    assert body == "PBS Job Id: 12.server\nJob Name:   sim\nBegun execution\n"
    task = pbs_job(S.CANCELLED, array_job_id=11, array_task_id=4, reason="cancelled by alice")
    subject, body = notify.pbs_message(task, FAIL, "server")
    assert subject == "PBS JOB 11[4].server"
    assert body.splitlines()[2:] == ["Aborted by PBS Server ", "cancelled by alice"]


def test_recipients_default_to_the_owner_and_never_become_options():
    assert notify.recipients(slurm_job()) == (["alice"], [])
    assert notify.recipients(slurm_job(users="a@example.org, bob")) == (["a@example.org", "bob"], [])
    assert notify.recipients(slurm_job(users="-X/tmp/log,ok@x.org,a b")) == (["ok@x.org"], ["-X/tmp/log", "a b"])


# -- the notifier --------------------------------------------------------------------------------

class RecordingSender(Sender):
    def __init__(self, mail_program: str = "/usr/sbin/sendmail", url: str = "") -> None:
        super().__init__(mail_program, url)
        self.sent: list[Mail | Post] = []

    def submit(self, notice: Mail | Post) -> None:
        self.sent.append(notice)


def notifier(sender: RecordingSender, jobs: dict[int, jobs_pb2.Job] | None = None) -> Notifier:
    jobs = jobs or {}

    def array_of(array_id: int) -> list[jobs_pb2.Job]:
        return [j for j in jobs.values() if j.array_job_id == array_id]
    return Notifier(config.CtldSection(), "hpcq", Watchers(), jobs.get, array_of, lambda: 2000.0, sender)


def test_one_mail_per_event_however_often_a_job_is_published():
    sender = RecordingSender()
    n = notifier(sender)
    job = slurm_job(events="END")
    for state in (S.PENDING, S.RUNNING, S.RUNNING, S.COMPLETED, S.COMPLETED):
        job.state = state
        if state == S.COMPLETED:
            job.start_time, job.end_time = 10.0, 15.0
        n.on_job(job)
    assert sender.sent == [Mail(12, ("alice",), "Slurm Job_id=12 Name=job Ended, Run time 00:00:05, COMPLETED, "
                                                "ExitCode 0", "")]


def array(events: str) -> dict[int, jobs_pb2.Job]:
    """Array 11 of three tasks: 11_1 (its own id 12), 11_2 (13) and 11_3, the last to start (11)."""
    return {i: slurm_job(S.PENDING, events=events, name="sweep", job_id=i, array_job_id=11, array_task_id=t)
            for i, t in ((12, 1), (13, 2), (11, 3))}


def run_array(n: Notifier, tasks: dict[int, jobs_pb2.Job], ends: dict[int, tuple[int, int]]) -> None:
    """Each task starts, then each ends (state, exit code); every end is published after
    the table has them all ended, as a notifier that fell behind hears them."""
    for task in tasks.values():
        task.state = S.RUNNING
        n.on_job(task)
    for i, (state, code) in ends.items():
        tasks[i].state, tasks[i].exit_code = state, code
    for i in ends:
        n.on_job(tasks[i])


def test_an_array_mails_once_as_a_whole_unless_array_tasks():
    sender = RecordingSender()
    tasks = array("BEGIN,END")
    run_array(notifier(sender, tasks), tasks, {12: (S.COMPLETED, 0), 13: (S.FAILED, 2), 11: (S.COMPLETED, 0)})
    assert [m.subject for m in sender.sent] == ["Slurm Array Summary Job_id=11_* (11) Name=sweep Began",
                                                "Slurm Array Summary Job_id=11_* (11) Name=sweep Ended, Mixed, "
                                                "ExitCode [0-2]"]
    sender = RecordingSender()
    tasks = array("FAIL")
    run_array(notifier(sender, tasks), tasks, {12: (S.COMPLETED, 0), 13: (S.TIMEOUT, 0), 11: (S.COMPLETED, 0)})
    assert [m.subject for m in sender.sent] == ["Slurm Array Summary Job_id=11_* (11) Name=sweep Failed, "
                                                "COMPLETED, ExitCode [0-0]"]
    sender = RecordingSender()
    tasks = array("END,ARRAY_TASKS")
    run_array(notifier(sender, tasks), tasks, {12: (S.COMPLETED, 0), 13: (S.COMPLETED, 0), 11: (S.COMPLETED, 0)})
    assert [m.subject.split(" Name=")[0] for m in sender.sent] == [
        "Slurm Array Task Job_id=11_1 (12)", "Slurm Array Task Job_id=11_2 (13)", "Slurm Array Task Job_id=11_3 (11)"]


def test_an_array_with_tasks_still_to_end_sends_no_end_mail():
    sender = RecordingSender()
    tasks = array("END")
    run_array(notifier(sender, tasks), tasks, {12: (S.COMPLETED, 0)})
    assert sender.sent == []


def test_an_ended_array_leaves_nothing_behind():
    sender = RecordingSender()
    tasks = array("BEGIN")
    n = notifier(sender, tasks)
    run_array(n, tasks, {12: (S.COMPLETED, 0), 13: (S.COMPLETED, 0), 11: (S.COMPLETED, 0)})
    assert len(sender.sent) == 1 and n._array_mails == {}


def test_webhook_gets_every_event_of_every_job():
    sender = RecordingSender(mail_program="", url="http://127.0.0.1:9/")
    sender.mail_program = ""
    n = notifier(sender)
    job = slurm_job()
    for state in (S.PENDING, S.RUNNING, S.FAILED):
        job.state = state
        n.on_job(job)
    assert [(p.body["event"], p.body["state"]) for p in sender.sent] == [("BEGIN", "RUNNING"), ("END", "FAILED")]
    assert sender.sent[-1].body["exit_code"] == 0


def test_only_jobs_that_want_notice_are_heard():
    mail_only = RecordingSender()
    assert notifier(mail_only).wants(slurm_job(events="END"))
    assert not notifier(mail_only).wants(slurm_job())
    assert notifier(mail_only).wants(pbs_job())                      # PBS: a by default
    assert not notifier(mail_only).wants(pbs_job(points="n"))
    assert notifier(RecordingSender(url="http://x/")).wants(slurm_job())


def test_time_limit_mail_when_the_share_of_the_walltime_has_passed():
    async def scenario() -> list[str]:
        sender = RecordingSender()
        # half of 100 s has passed at the notifier's now (2000): the mail is due at once
        job = slurm_job(S.RUNNING, events="TIME_LIMIT_50,TIME_LIMIT", walltime_seconds=100, start_time=1950.0)
        n = notifier(sender, {12: job})
        n.on_job(job)
        for _ in range(200):
            if sender.sent:
                break
            await asyncio.sleep(0.01)
        job.state = S.COMPLETED
        n.on_job(job)      # its end cancels the TIME_LIMIT mail still to come
        return [m.subject for m in sender.sent]
    assert asyncio.run(scenario()) == ["Slurm Job_id=12 Name=job Reached 50% of time limit, Run time 00:00:50"]


def test_without_a_mail_program_the_log_says_mail_is_not_sent(caplog):
    sender = RecordingSender()
    sender.mail_program = ""
    asyncio.run(notifier(sender).run())        # nothing to send: it returns, subscribing nothing
    assert any("is not sent" in r.getMessage() for r in caplog.records)


# -- the sender ----------------------------------------------------------------------------------

def test_sender_runs_the_mail_program_with_the_message_on_its_input(tmp_path):
    record = tmp_path / "mail.txt"
    program = tmp_path / "sendmail"
    program.write_text(f"#!/bin/sh\necho \"$@\" > {record}\ncat >> {record}\n")
    program.chmod(0o755)
    sender = Sender(str(program), "")
    sender.mail(Mail(1, ("alice", "bob@x.org"), "Slurm Job_id=1 Name=j Began, Queued time 00:00:00", ""))
    assert record.read_text() == ("-oi alice bob@x.org\nTo: alice, bob@x.org\n"
                                  "Subject: Slurm Job_id=1 Name=j Began, Queued time 00:00:00\n\n")


def test_a_failing_mail_program_is_logged_and_the_sender_goes_on(tmp_path, caplog):
    program = tmp_path / "sendmail"
    program.write_text("#!/bin/sh\necho no route >&2\nexit 75\n")
    program.chmod(0o755)
    sender = Sender(str(program), "")
    sender.start()
    try:
        sender.submit(Mail(7, ("alice",), "s", ""))
        sender.submit(Mail(8, ("alice",), "s", ""))
    finally:
        sender.stop()
    failures = [r.getMessage() for r in caplog.records if "not sent" in r.getMessage()]
    assert len(failures) == 2 and "exited 75: no route" in failures[0]


def test_sender_posts_json(tmp_path):
    got: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass
    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        Sender("", f"http://127.0.0.1:{server.server_address[1]}/hook").post(Post(3, {"event": "END", "job_id": 3}))
    finally:
        server.shutdown()
    assert got == [{"event": "END", "job_id": 3}]


def test_mail_program_found_on_the_path(tmp_path, monkeypatch):
    program = tmp_path / "sendmail"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_mail_program("") == str(program)
    assert find_mail_program("/opt/mailer") == "/opt/mailer"


def test_notify_url_must_be_http():
    with pytest.raises(config.ConfigError, match="notify_url"):
        config.from_dict({"ctld": {"notify_url": "file:///etc/passwd"}})
