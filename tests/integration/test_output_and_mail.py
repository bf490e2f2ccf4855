"""Live output and notifications, with real daemons and two real users through the agent:
`hpcqctl tail -f` and `sattach N.0` show what a running job prints within a second, to
its owner only; --mail-type=END and qsub -m e each produce one mail through the mail
program, in Slurm's and PBS's words; notify_url gets each event as JSON."""
from __future__ import annotations

import concurrent.futures
import http.server
import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from hpcq.api import jobs_pb2
from tests import localusers
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="creates local users and changes uid")]

S = jobs_pb2.JobState
USERS = ("hpcqalice", "hpcqbob")
# The delay a line may take from the job's print to the follower's output ("within 1 s").
LIVE = 1.0


class Hook(http.server.BaseHTTPRequestHandler):
    posts: list[dict] = []

    def do_POST(self) -> None:
        Hook.posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def site():
    """(cluster, env, users, mail directory): a mail program that files each mail it is given."""
    users = localusers.ensure(*USERS)
    mails = Path(tempfile.mkdtemp(prefix="hpcq-mails."))
    program = mails / "sendmail"
    program.write_text(f'#!/bin/sh\nf=$(mktemp {mails}/mail.XXXXXX)\necho "$@" > "$f.tmp"\ncat >> "$f.tmp"\n'
                       f'mv "$f.tmp" "$f.txt"\nrm -f "$f"\n')
    program.chmod(0o755)
    hook = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    settings = (f"ctld.mail_program={program}", f"ctld.notify_url=http://127.0.0.1:{hook.server_address[1]}/hook")
    try:
        with localusers.shared_cluster("hpcq-output.", *settings, cpus=2) as (cluster, env):
            yield cluster, env, users, mails
    finally:
        hook.shutdown()


def popen_as(user, argv, env) -> subprocess.Popen:
    def become() -> None:
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
    return subprocess.Popen(argv, env=localusers.environment(user, env), cwd=user.pw_dir, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=become)


def delays(process: subprocess.Popen, since: float) -> list[float]:
    """How long each line printed after `since` took to come out of `process` (lines are
    the job's `date +%s.%N`)."""
    late = []
    assert process.stdout is not None
    for line in process.stdout:
        seen = time.time()
        printed = float(line)
        if printed >= since:
            late.append(seen - printed)
    return late


def test_the_owner_follows_a_running_job_live_and_nobody_else_may(site):
    cluster, env, users, _ = site
    alice, bob = users["hpcqalice"], users["hpcqbob"]
    script = "#!/bin/sh\nsrun sh -c 'for i in $(seq 1 25); do date +%s.%N; sleep 0.2; done'\n"
    submitted = localusers.run_as(alice, ["sbatch", "--parsable"], env, input=script)
    assert submitted.returncode == 0, submitted.stderr
    job_id = int(submitted.stdout.split(";")[0])
    with cluster.client() as client:
        def step_runs() -> bool:
            [job], _ = client.get([job_id])
            return any(s.step_id == 0 and s.state == S.RUNNING for s in job.steps)
        wait_until(step_runs, timeout=60, what=f"step {job_id}.0 running")
    attached = time.time() + 0.5         # what both print from here on must come out live
    tail = popen_as(alice, ["hpcqctl", "tail", "-f", str(job_id)], env)
    sattach = popen_as(alice, ["sattach", f"{job_id}.0"], env)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:      # both read as lines come; bob tries meanwhile
        following = [pool.submit(delays, p, attached) for p in (tail, sattach)]
        refused = [localusers.run_as(bob, argv, env) for argv in (["sattach", f"{job_id}.0"],
                                                                  ["hpcqctl", "tail", str(job_id)])]
        errors_so_far = localusers.run_as(alice, ["hpcqctl", "tail", "-e", str(job_id)], env)   # Slurm: in the output
        tailed, attached_lines = (f.result() for f in following)
    assert tail.wait(timeout=60) == 0 and sattach.wait(timeout=60) == 0, (tail.stderr.read(), sattach.stderr.read())
    assert len(tailed) >= 10 and len(attached_lines) >= 10
    assert max(tailed) < LIVE and max(attached_lines) < LIVE, (tailed, attached_lines)
    assert (refused[0].returncode, refused[0].stderr) == (
        1, "sattach: error: Could not get job step info: Access/permission denied\n")
    assert (refused[1].returncode, refused[1].stderr) == (1, f"hpcqctl: tail {job_id}: not your job\n")
    assert refused[0].stdout == refused[1].stdout == ""
    assert errors_so_far.returncode == 0 and float(errors_so_far.stdout.splitlines()[0]) > 0


def test_sattach_of_a_job_that_does_not_run(site):
    _, env, users, _ = site
    alice = users["hpcqalice"]
    held = localusers.run_as(alice, ["sbatch", "--parsable", "--hold", "--wrap", "true"], env)
    job_id = int(held.stdout.split(";")[0])
    pending = localusers.run_as(alice, ["sattach", f"{job_id}.0"], env)
    unknown = localusers.run_as(alice, ["sattach", "999999.0"], env)
    assert pending.stderr == "sattach: error: Could not get job step info: Job is pending execution\n"
    assert unknown.stderr == "sattach: error: Could not get job step info: Invalid job id specified\n"
    assert pending.returncode == unknown.returncode == 1
    localusers.run_as(alice, ["scancel", str(job_id)], env)


def _mails(directory: Path) -> list[str]:
    return [p.read_text() for p in sorted(directory.glob("mail.*.txt"))]


def test_mail_at_the_end_in_slurm_and_pbs_words_and_a_webhook_per_event(site):
    _, env, users, mails = site
    alice = users["hpcqalice"]
    slurm = localusers.run_as(alice, ["sbatch", "--parsable", "--mail-type=END", "-J", "ends", "--wrap", "true"], env)
    slurm_id = int(slurm.stdout.split(";")[0])
    subject = f"Subject: Slurm Job_id={slurm_id} Name=ends Ended, Run time "
    wait_until(lambda: any(subject in m for m in _mails(mails)), timeout=60, what="the Slurm job's mail")
    pbs = localusers.run_as(alice, ["qsub", "-m", "e", "-N", "sim"], env, input="#!/bin/sh\ntrue\n")
    assert pbs.returncode == 0, pbs.stderr
    pbs_id = pbs.stdout.strip()
    wait_until(lambda: any(f"Subject: PBS JOB {pbs_id}\n" in m for m in _mails(mails)), timeout=60,
               what="the PBS job's mail")
    [slurm_mail] = [m for m in _mails(mails) if f"Job_id={slurm_id} " in m]     # one, though the PBS one came after
    lines = slurm_mail.splitlines()
    assert lines[:2] == ["-oi hpcqalice", "To: hpcqalice"]
    assert lines[2].startswith(subject) and lines[2].endswith(", COMPLETED, ExitCode 0")
    [pbs_mail] = [m for m in _mails(mails) if f"PBS JOB {pbs_id}\n" in m]
    assert pbs_mail.split("\n\n", 1)[1].splitlines()[:4] == [
        f"PBS Job Id: {pbs_id}", "Job Name:   sim", "Execution terminated", "Exit_status=0"]
    ended = localusers.run_as(alice, ["hpcqctl", "tail", pbs_id], env)     # PBS's id, of a job that has ended
    assert (ended.returncode, ended.stderr) == (
        1, f"hpcqctl: tail {pbs_id.split('.')[0]}: the job is not running (its output file is in place on its node)\n")
    events = [(p["event"], p["state"]) for p in Hook.posts if p["job_id"] == slurm_id]
    assert events == [("BEGIN", "RUNNING"), ("END", "COMPLETED")]
