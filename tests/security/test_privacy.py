"""What one user may read of another's work, tried as the users themselves: a cluster root
started, two real unprivileged users going through the real hpcq-agent with the real
commands and the SDK. A job's script, environment and command-line arguments are its
owner's and the staff's, on every read path; with [ctld] private_data = ["jobs"] another
user's unfinished jobs do not exist for B at all; and no List answer outgrows a message,
whatever the history holds."""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from hpcq.api import jobs_pb2
from hpcq.client import Client
from hpcq.errors import HpcqError
from hpcq.shims.slurm import sacct_format, squeue_format
from hpcq.transport import AgentTransport
from tests import localusers
from tests.cluster import Cluster
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="creates local users and changes uid")]

ALICE, BOB = "hpcqalice", "hpcqbob"
TOKEN = "abc123"                       # SECRET_TOKEN=abc123 in A's environment
SCRIPT_SECRET = "scriptsecret7f3a"     # in the text of A's scripts
ARG_SECRET = "argsecret91c2"           # an argument of A's script
SECRETS = (TOKEN, SCRIPT_SECRET, ARG_SECRET)
EVERY_SQUEUE_FIELD = ",".join(sorted(squeue_format.NAMED_FIELDS))
EVERY_SACCT_FIELD = ",".join(f.name for f in sacct_format.FIELDS)


@dataclass
class Site:
    cluster: Cluster
    env: dict[str, str]          # what the users' commands get: PATH and the agent's socket
    users: dict

    @property
    def socket(self) -> str:
        return self.env["HPCQ_AGENT_SOCKET"]

    def run(self, who: str, *argv: str, input: str | None = None, env: dict[str, str] | None = None):
        return localusers.run_as(self.users[who], argv, {**self.env, **(env or {})}, input=input)

    def out(self, who: str, *argv: str) -> str:
        """stdout of a command that must succeed."""
        result = self.run(who, *argv)
        assert result.returncode == 0, f"{who}: {' '.join(argv)}: {result.stderr}"
        return result.stdout

    def sdk(self, who: str, action):  # action(Client) -> picklable
        """action(client) in a process of `who`, with the SDK through the agent."""
        user = self.users[who]

        def call():
            with Client(AgentTransport(self.socket), timeout=20) as client:
                return action(client)
        return localusers.call_as(user.pw_uid, user.pw_gid, call)

    def raw(self, who: str, method: str, request) -> bytes:
        """The agent's answer, bytes as they leave the socket (the shims' fast path)."""
        user = self.users[who]
        return localusers.call_as(user.pw_uid, user.pw_gid, lambda: AgentTransport(self.socket).unary(
            method, request.SerializeToString(), 20))

    def watch_every_job(self, who: str, until: set[int], timeout: float = 30) -> list[bytes]:
        """The records, as they leave the agent's socket, that a watch of every job starts
        with, as the SDK asks for them after a cut (all that finished since long ago): up to
        the first that makes them hold every job in `until`, or all of them within `timeout`."""
        request = jobs_pb2.WatchRequest(send_initial=True, finished_after=1.0).SerializeToString()

        def first_records() -> list[bytes]:
            records, missing = [], set(until)
            try:
                for raw in AgentTransport(self.socket).stream("/hpcq.v1.Jobs/Watch", request, timeout):
                    records.append(raw)
                    missing.discard(jobs_pb2.JobEvent.FromString(raw).job.id)
                    if until and not missing:
                        break
            except HpcqError as e:
                assert e.code == "DEADLINE_EXCEEDED", e
            return records
        user = self.users[who]
        return localusers.call_as(user.pw_uid, user.pw_gid, first_records)


@contextmanager
def _site(users: dict, *settings: str) -> Iterator[Site]:
    with localusers.shared_cluster("hpcq-privacy.", *settings) as (cluster, env):
        yield Site(cluster, env, users)


@pytest.fixture(scope="module")
def users() -> dict:
    return localusers.ensure(ALICE, BOB)


@dataclass
class AlicesJobs:
    slurm: str       # held: a script file with an argument, SECRET_TOKEN in the environment
    pbs: str         # held: qsub -v SECRET_TOKEN=...
    finished: str    # ran: sbatch --export=ALL,SECRET_TOKEN=... --wrap

    @property
    def all(self) -> list[str]:
        return [self.slurm, self.pbs, self.finished]


def submit_alices_jobs(site: Site) -> AlicesJobs:
    alice = site.users[ALICE]
    script = Path(alice.pw_dir) / "secret.sh"
    script.write_text(f"#!/bin/sh\necho {SCRIPT_SECRET}\n")
    os.chown(script, alice.pw_uid, alice.pw_gid)
    script.chmod(0o600)
    secret_env = {"SECRET_TOKEN": TOKEN}
    slurm = site.run(ALICE, "sbatch", "--hold", "--parsable", str(script), ARG_SECRET, env=secret_env)
    assert slurm.returncode == 0, slurm.stderr
    pbs = site.run(ALICE, "qsub", "-h", "-v", f"SECRET_TOKEN={TOKEN}", input=f"echo {SCRIPT_SECRET}\n")
    assert pbs.returncode == 0, pbs.stderr
    done = site.run(ALICE, "sbatch", "--parsable", f"--export=ALL,SECRET_TOKEN={TOKEN}", "--wrap",
                    f"echo {SCRIPT_SECRET}")
    assert done.returncode == 0, done.stderr
    jobs = AlicesJobs(slurm.stdout.split(";")[0].strip(), pbs.stdout.split(".")[0].strip(),
                      done.stdout.split(";")[0].strip())
    with site.cluster.client(admin=True) as admin:
        wait_until(lambda: admin.get([int(jobs.finished)])[0][0].state == jobs_pb2.COMPLETED, timeout=30,
                   what=f"job {jobs.finished} to complete")
    return jobs


@pytest.fixture(scope="module")
def shared(users) -> Iterator[tuple[Site, AlicesJobs]]:
    """A cluster with the default private_data (none), and A's three jobs."""
    with _site(users) as site:
        yield site, submit_alices_jobs(site)


def commands(jobs: AlicesJobs) -> list[list[str]]:
    """Every command line that prints what a job holds."""
    return [
        ["qstat", "-f", jobs.slurm, jobs.pbs],
        ["qstat", "-f", "-F", "json", jobs.slurm, jobs.pbs],
        ["qstat", "-x", "-f"],
        ["qstat", "-x", "-f", "-F", "json"],
        ["scontrol", "show", "job"],
        *(["scontrol", "show", "job", "-d", job_id] for job_id in jobs.all),
        ["squeue", "-t", "all", "-O", EVERY_SQUEUE_FIELD],
        ["squeue", "-t", "all", "-l"],
        ["sacct", "-a", "-S", "2000-01-01", "-o", EVERY_SACCT_FIELD],
        ["sacct", "-a", "-S", "2000-01-01", "-l", "-p"],
    ]


def _leaks(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [s for s in SECRETS if s.encode() in data]


# -- without private_data: B sees A's jobs, never their secrets ------------------------------

def test_another_user_reads_no_script_environment_or_argument_through_any_command(shared):
    site, jobs = shared
    for argv in commands(jobs):
        out = site.out(BOB, *argv)
        assert _leaks(out) == [], f"{' '.join(argv)} shows B {_leaks(out)}:\n{out}"
        assert any(job_id in out for job_id in jobs.all), f"{' '.join(argv)} shows B none of A's jobs:\n{out}"


def test_the_owner_and_root_read_them(shared):
    site, jobs = shared
    for who, run in ((ALICE, lambda *argv: site.out(ALICE, *argv)),
                     ("root", lambda *argv: site.cluster.run(*argv).stdout)):
        qstat = run("qstat", "-f", jobs.slurm, jobs.pbs)
        assert f"SECRET_TOKEN={TOKEN}" in qstat, who
        assert TOKEN in run("qstat", "-f", "-F", "json", jobs.pbs), who
        assert ARG_SECRET in run("scontrol", "show", "job", jobs.slurm), who


def test_the_sdk_and_the_agent_path_give_another_user_only_public_fields(shared):
    site, jobs = shared
    ids = [int(i) for i in jobs.all]

    def read(client: Client) -> dict:
        got, unknown = client.get(ids)
        return {"get": [j.SerializeToString() for j in got], "unknown": unknown,
                "list": [j.SerializeToString() for j in client.list(include_finished=True)],
                "explain": client.explain(ids[0]).SerializeToString()}
    bob, alice = site.sdk(BOB, read), site.sdk(ALICE, read)
    assert bob["unknown"] == [] and len(bob["get"]) == 3
    for name in ("get", "list"):
        assert len(bob[name]) >= 3 and not _leaks(b"".join(bob[name])), name
        views = [jobs_pb2.Job.FromString(raw) for raw in bob[name]]
        alices = [j for j in views if j.user == ALICE]
        assert len(alices) >= 3 and all(j.spec.name for j in alices)   # public fields stay
        assert not any(j.spec.script or j.spec.environment or j.spec.argv for j in alices)
        assert set(_leaks(b"".join(alice[name]))) == set(SECRETS), name
    assert not _leaks(bob["explain"])
    for method, request in (("/hpcq.v1.Jobs/Get", jobs_pb2.GetJobsRequest(job_ids=ids)),
                            ("/hpcq.v1.Jobs/List", jobs_pb2.ListJobsRequest(include_finished=True))):
        assert _leaks(site.raw(BOB, method, request)) == [], method
        assert set(_leaks(site.raw(ALICE, method, request))) == set(SECRETS), method
    with site.cluster.client(admin=True) as admin:
        [job], _ = admin.get([int(jobs.slurm)])
    assert SCRIPT_SECRET in job.spec.script and job.spec.environment["SECRET_TOKEN"] == TOKEN


def test_watch_gives_another_user_the_initial_and_live_events_without_secrets(shared):
    site, jobs = shared
    job_id = int(jobs.slurm)

    def watch(client: Client) -> list[bytes]:
        events = []
        for job in client.watch([job_id], send_initial=True, timeout=30):
            events.append(job.SerializeToString())
            if len(events) == 2:
                return events
        return events
    answer: list = []
    watcher = threading.Thread(target=lambda: answer.append(site.sdk(BOB, watch)))
    watcher.start()
    ticks = iter(range(1_000_000))
    # A change of A's job is a live event for B's watch: make changes until B has one.
    wait_until(lambda: site.cluster.run("scontrol", "update", f"JobId={job_id}",
                                        f"Comment=tick{next(ticks)}") and not watcher.is_alive(),
               timeout=30, interval=0.2, what="B's watch to get a live event")
    watcher.join()
    [events] = answer
    assert len(events) == 2
    assert [jobs_pb2.Job.FromString(e).id for e in events] == [job_id, job_id]
    assert _leaks(b"".join(events)) == []


def test_a_watch_of_every_job_starts_with_another_users_jobs_without_secrets(shared):
    """What a watch of every job made again after a cut starts with: A's held and finished
    jobs, for B without their secrets."""
    site, jobs = shared
    ids = {int(i) for i in jobs.all}
    bobs = site.watch_every_job(BOB, until=ids)
    assert ids <= {jobs_pb2.JobEvent.FromString(raw).job.id for raw in bobs}   # the finished one too
    assert _leaks(b"".join(bobs)) == []
    alices = [jobs_pb2.JobEvent.FromString(raw).job for raw in bobs]
    assert all(j.spec.name and not (j.spec.script or j.spec.environment or j.spec.argv)
               for j in alices if j.id in ids)
    assert set(_leaks(b"".join(site.watch_every_job(ALICE, until=ids)))) == set(SECRETS)


# -- private_data = ["jobs"]: A's unfinished jobs do not exist for B -------------------------

BIG_SCRIPT = 200 * 1024
BIG_JOBS = 100          # 20 MB of history: more than one agent frame (wire.MAX_FRAME, 16 MiB)


@pytest.fixture(scope="module")
def private(users) -> Iterator[tuple[Site, str, list[int]]]:
    """A cluster with private_data = ["jobs"], A's held job, and root's history of big held jobs."""
    with _site(users, 'ctld.private_data=["jobs"]') as site:
        big = []
        with site.cluster.client(admin=True) as admin:
            for _ in range(BIG_JOBS // 10):
                script = "#!/bin/sh\n" + "# padding\n" * (BIG_SCRIPT // 10)
                big += admin.submit([jobs_pb2.JobSpec(script=script, hold=True, submit_dir="/tmp")] * 10)
        alice = site.run(ALICE, "sbatch", "--hold", "--parsable", "--wrap", f"echo {SCRIPT_SECRET}")
        assert alice.returncode == 0, alice.stderr
        yield site, alice.stdout.split(";")[0].strip(), big


def test_with_private_jobs_another_user_does_not_see_them_at_all(private):
    site, job_id, big = private
    # B has no job: every listing is empty for B, and shows A her own
    for argv, hers in ((["squeue", "-h", "-t", "all", "-o", "%i"], f"{job_id}\n"), (["qstat"], f"\n{job_id}."),
                       (["qstat", "-x"], f"\n{job_id}."), (["scontrol", "show", "job"], f"JobId={job_id} "),
                       (["sacct", "-a", "-n", "-X", "-j", job_id, "-o", "JobID"], f"{job_id} ")):
        out = site.out(BOB, *argv)
        assert out.strip() in ("", "No jobs in the system"), f"{' '.join(argv)}:\n{out}"
        assert hers in site.out(ALICE, *argv), " ".join(argv)
    qstat = site.run(BOB, "qstat", "-f", job_id)
    assert qstat.returncode != 0 and qstat.stderr.startswith(f"qstat: Unknown Job Id {job_id}.")
    scontrol = site.run(BOB, "scontrol", "show", "job", job_id)
    assert (scontrol.returncode, scontrol.stderr) == (1, "slurm_load_jobs error: Invalid job id specified\n")

    def read(client: Client) -> tuple:
        got, unknown = client.get([int(job_id)])
        try:
            client.explain(int(job_id))
            explained = "answered"
        except HpcqError as e:
            explained = e.code
        watched = []
        try:
            watched = [j.id for j in client.watch([int(job_id)], send_initial=True, timeout=2)]
        except HpcqError as e:
            assert e.code == "DEADLINE_EXCEEDED"
        states = client.server_info().jobs_by_state
        return (len(got), unknown, [j.id for j in client.list(include_finished=True)], explained, watched,
                sum(states.values()))
    got, unknown, listed, explained, watched, counted = site.sdk(BOB, read)
    assert (got, unknown, explained, watched, counted) == (0, [int(job_id)], "NOT_FOUND", [], 0)
    assert int(job_id) not in listed and not set(big) & set(listed)
    cancel = site.run(BOB, "scancel", "-v", job_id)   # unknown to B, as a job that never was
    assert "Invalid job id specified" in cancel.stderr
    assert site.sdk(ALICE, lambda client: [j.state for j in client.get([int(job_id)])[0]]) == [jobs_pb2.HELD]


def test_with_private_jobs_a_watch_of_every_job_starts_with_none_of_another_users(private):
    site, job_id, _ = private
    assert [jobs_pb2.JobEvent.FromString(raw).job.id
            for raw in site.watch_every_job(ALICE, until={int(job_id)})] == [int(job_id)]   # hers only
    assert site.watch_every_job(BOB, until=set(), timeout=2) == []   # B has none: nothing within 2 s


def test_no_list_outgrows_a_message_whatever_the_history_holds(private):
    """20 MB of held jobs: squeue -t all, sacct, qstat -x and Get (qstat -f of every id)
    answer root, page by page."""
    site, _, big = private
    squeue = site.cluster.run("squeue", "-h", "-t", "all", "-o", "%i")
    assert {str(i) for i in big} <= set(squeue.stdout.split())
    qstat = site.cluster.run("qstat", "-x")
    assert all(f"{i}." in qstat.stdout for i in big[:: 10])
    # sacct's window reads every job, page by page, and shows none of these: a held job never
    # became eligible, so no window holds it (as in Slurm); asked for by id, each is there.
    window = site.cluster.run("sacct", "-a", "-n", "-X", "-S", "2000-01-01", "-o", "JobID")
    assert window.stdout.split() == []
    sacct = site.cluster.run("sacct", "-a", "-n", "-X", "-j", ",".join(map(str, big)), "-o", "JobID")
    assert {str(i) for i in big} <= set(sacct.stdout.split())
    listed = site.sdk(ALICE, lambda client: len(client.list(include_finished=True)))
    assert listed == 1   # her own job only, and no error on the way
    # Get too: 20 MB of jobs asked for by id come in answers of a bounded size
    with site.cluster.client(admin=True) as admin:
        got, unknown = admin.get(big)
    assert ([j.id for j in got], unknown) == (big, [])
    qstat_f = site.cluster.run("qstat", "-f", *map(str, big))
    assert qstat_f.stdout.count("Job Id: ") == len(big)
