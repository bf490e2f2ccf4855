"""A hostile second user against ctld's read path under a polling storm: while a third
user's loops keep ctld busy (hpcq.ctld.gate.Load.busy), List answers are shared and kept
current in place (hpcq.ctld.listcache). Tried as real unprivileged users through the real
hpcq-agent, on one cluster whose ctld is restarted with each [ctld] private_data (unset,
jobs, jobs and accounting).

B polls every listing the storm polls and checks each answer as it comes: none of A's
secrets in its bytes, each of A's jobs exactly as auth.redact leaves it, none that
private_data hides, B's own jobs whole. Meanwhile A submits, releases, holds, cancels and
runs jobs and an array: each change shows in the very next List, A's new job in her own
next List whole. Filters and pages answer under the storm what a listing made afresh
answers. Output and Watch of A's job stay refused to B, across a ctld restart too (the
clients' resume path)."""
from __future__ import annotations

import operator
import os
import pickle
import select
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass

import psutil
import pytest

from hpcq import states
from hpcq.api import jobs_pb2
from hpcq.client import Client
from hpcq.ctld import auth
from hpcq.ctld import jobs as jobrules
from hpcq.ctld.gate import BUSY_READS_PER_SECOND
from hpcq.errors import HpcqError
from hpcq.shims.slurm import squeue_format
from hpcq.transport import AgentTransport
from tests import localusers
from tests.cluster import Cluster
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="creates local users and changes uid")]

ALICE, BOB, CAROL = "hpcqalice", "hpcqbob", "hpcqcarol"
S = jobs_pb2.JobState
LIST = "/hpcq.v1.Jobs/List"
DEADLINE = 60.0
TOKEN, SCRIPT_SECRET, ARG_SECRET, EXPORT_SECRET, OUTPUT_SECRET = (
    "stormtoken5d1e", "stormscript8a7c", "stormarg30b9", "stormexport42f0", "stormoutput6c3d")
BOB_SECRET = "bobscript77e1"
SECRETS = {ALICE: (TOKEN, SCRIPT_SECRET, ARG_SECRET, EXPORT_SECRET, OUTPUT_SECRET), BOB: (BOB_SECRET,)}
PRIVACY = {"unset": frozenset(), "jobs": frozenset({"jobs"}), "jobs,accounting": frozenset({"jobs", "accounting"})}

# What squeue, qstat and the SDK ask while they poll: the storm keeps these answers.
POLLED = [jobs_pb2.ListJobsRequest(),                                          # squeue, qstat
          jobs_pb2.ListJobsRequest(include_finished=True),                     # squeue -t all, qstat -x
          jobs_pb2.ListJobsRequest(users=[ALICE]),                             # squeue -u A
          jobs_pb2.ListJobsRequest(states=[S.PENDING, S.HELD, S.WAITING]),     # squeue -t PD
          jobs_pb2.ListJobsRequest(names=["storm-held"]),                      # squeue -n
          jobs_pb2.ListJobsRequest(include_finished=True, page_size=3)]        # the SDK's pages


# -- processes of real users --------------------------------------------------------------

def _grpc_internal(fd: int) -> bool:
    """An epoll, eventfd or the like: no file, socket or pipe, so nothing a user could use."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}").startswith("anon_inode:")
    except OSError:
        return False


class Forked:
    """work(stopped, tell) in a forked child that became `user`, while the test goes on. The
    child uses only the agent's socket and protobuf (grpc does not survive a fork).
    stopped(wait) says whether stop() was called (waiting up to `wait` s for it); tell()
    lets the test know the child got somewhere (told())."""

    def __init__(self, user, work: Callable[[Callable[..., bool], Callable[[], None]], object]) -> None:
        self.user = user.pw_name
        stop_r, self._stop_w = os.pipe()
        told_r, told_w = os.pipe()
        result_r, result_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:   # the child: its outcome, or its traceback, goes to the test
            try:
                # Every other descriptor goes (another child's stop pipe held open here
                # would never tell that child to stop), but grpc's own: its fork handlers
                # start its threads again in the child, on an epoll and eventfds of their
                # own, and a child that closed those died at random (no outcome written).
                keep = {0, 1, 2, stop_r, told_w, result_w}
                for fd in map(int, os.listdir("/proc/self/fd")):
                    if fd not in keep and not _grpc_internal(fd):
                        with suppress(OSError):
                            os.close(fd)
                os.setgroups([])
                os.setgid(user.pw_gid)
                os.setuid(user.pw_uid)
                outcome = ("ok", work(lambda wait=0.0: bool(select.select([stop_r], [], [], wait)[0]),
                                      lambda: os.write(told_w, b".") and None))
            except BaseException:  # noqa: BLE001 - whatever it was, the test says it
                outcome = ("error", traceback.format_exc())
            try:
                try:
                    data = pickle.dumps(outcome)
                except pickle.PicklingError:
                    data = pickle.dumps(("error", traceback.format_exc()))
                with os.fdopen(result_w, "wb") as out:
                    out.write(data)
            finally:
                os._exit(0)
        for fd in (stop_r, told_w, result_w):
            os.close(fd)
        self._told, self._result = told_r, result_r

    def told(self, timeout: float = DEADLINE) -> None:
        assert select.select([self._told], [], [], timeout)[0], f"{self.user}'s child said nothing in {timeout} s"
        os.read(self._told, 1)

    def stop(self) -> None:
        if self._stop_w >= 0:
            os.close(self._stop_w)
            self._stop_w = -1

    def result(self, timeout: float = DEADLINE):
        """What work returned (stopping it first); its traceback fails the test."""
        self.stop()
        if not select.select([self._result], [], [], timeout)[0]:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            raise AssertionError(f"{self.user}'s child did not finish in {timeout} s")
        with os.fdopen(self._result, "rb") as f:
            data = f.read()
        os.waitpid(self.pid, 0)
        os.close(self._told)
        kind, value = pickle.loads(data)
        assert kind == "ok", f"as {self.user}:\n{value}"
        return value


@dataclass
class Site:
    cluster: Cluster
    env: dict[str, str]
    users: dict
    private: frozenset[str] = frozenset()

    @property
    def socket(self) -> str:
        return self.env["HPCQ_AGENT_SOCKET"]

    def home(self, who: str) -> str:
        return self.users[who].pw_dir

    def forked(self, who: str, work) -> Forked:
        return Forked(self.users[who], work)

    def act(self, who: str, action: str, job_id: int) -> None:
        """`who` cancels, holds or releases a job, which must answer OK."""
        codes = self.sdk(who, lambda client: [r.code for r in getattr(client, action)([job_id])])
        assert codes == [jobs_pb2.JobActionResult.OK], (action, job_id, codes)

    def sdk(self, who: str, action: Callable[[Client], object]):
        """action(client) as `who`, with the SDK through the agent: its result."""
        return self.forked(who, lambda stopped, tell: self.with_client(action)).result()

    def with_client(self, action: Callable[[Client], object]) -> object:
        with Client(AgentTransport(self.socket), timeout=DEADLINE) as client:
            return action(client)

    def lists(self, who: str, *requests: jobs_pb2.ListJobsRequest) -> list[bytes]:
        """`who`'s List answers (the first page of each), bytes as they leave the agent."""
        def work(stopped, tell):
            transport = AgentTransport(self.socket)
            return [transport.unary(LIST, r.SerializeToString(), DEADLINE) for r in requests]
        return self.forked(who, work).result()

    def truth(self) -> dict[int, jobs_pb2.Job]:
        """Every job as it is, by Get (never a shared answer), as root reads it through the
        agent: this process forks the users' children, so it never starts grpc itself (a
        fork while grpc shuts a channel down can hang)."""
        with Client(AgentTransport(self.socket), timeout=DEADLINE) as root:
            jobs, _ = root.get(range(1, root.server_info().next_job_id))
        return {j.id: j for j in jobs}

    def kill_ctld(self) -> None:
        pid = int((self.cluster.home / "run" / "ctld.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
                   timeout=DEADLINE, what="ctld to stop")

    def start_ctld(self, *settings: str) -> None:
        """`hpcqctl up` (with `settings` written into the config first): ctld again."""
        self.cluster.run("hpcqctl", "up", "--nodes", "1", "--cpus", "2", *(f"--set={s}" for s in settings))


def alices_spec(site: Site, name: str, body: str = "true", **fields) -> jobs_pb2.JobSpec:
    """A job of A's carrying her secrets in every field that redaction hides."""
    return jobs_pb2.JobSpec(
        dialect=jobs_pb2.DIALECT_SLURM, name=name, script=f"#!/bin/sh\n: {SCRIPT_SECRET}\n{body}\n",
        argv=[ARG_SECRET], environment={"SECRET_TOKEN": TOKEN}, attributes={"export": f"ALL,X={EXPORT_SECRET}"},
        submit_dir=site.home(ALICE), **{"stdout_path": "/dev/null", **fields})


def bobs_spec(site: Site) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(name="bobs", script=f"#!/bin/sh\n: {BOB_SECRET}\n", hold=True,
                            submit_dir=site.home(BOB), stdout_path="/dev/null")


def violations(raw: bytes, viewer: str, private: frozenset[str]) -> list[str]:
    """What a List answer to `viewer` shows that it must not, or lacks of their own jobs."""
    other = ALICE if viewer == BOB else BOB
    found = [f"{secret!r} in the answer" for secret in SECRETS[other] if secret.encode() in raw]
    for job in jobs_pb2.ListJobsResponse.FromString(raw).jobs:
        if job.user == viewer:
            if not any(s in job.spec.script for s in SECRETS[viewer]):
                found.append(f"own job {job.id} without its script")
        elif ("accounting" if states.is_finished(job.state) else "jobs") in private:
            found.append(f"{S.Name(job.state)} job {job.id} of {job.user}, which private_data hides")
        elif auth.redacted(job) != job:
            found.append(f"job {job.id} of {job.user} with fields redaction hides")
    return found


def may_see(job: jobs_pb2.Job, viewer: str, private: frozenset[str]) -> bool:
    return auth.ReadRules(private).may_see(auth.Caller(viewer, "user"), job)


def fresh(truth: dict[int, jobs_pb2.Job], request: jobs_pb2.ListJobsRequest, viewer: str,
          private: frozenset[str]) -> tuple[list[tuple[int, int]], str]:
    """The page a listing made afresh holds, from the jobs as Get reads them: (id, state)
    of each, and its next page token (these small jobs never meet the byte budget)."""
    listed, after = jobrules.list_filter(request), int(request.page_token or 0)
    jobs = sorted((j for j in truth.values() if j.id > after and listed(j) and may_see(j, viewer, private)),
                  key=operator.attrgetter("id"))
    size = request.page_size
    token = str(jobs[size - 1].id) if size and len(jobs) > size else ""
    return [(j.id, j.state) for j in jobs[:size or None]], token


def page(raw: bytes) -> tuple[list[tuple[int, int]], str]:
    reply = jobs_pb2.ListJobsResponse.FromString(raw)
    return [(j.id, j.state) for j in reply.jobs], reply.next_page_token


# -- the storm ----------------------------------------------------------------------------

def _poll(site: Site, requests: list[jobs_pb2.ListJobsRequest], check: str = "") -> Callable:
    """A poll loop over `requests` as fast as ctld answers (after its retry hint when it
    sheds one); with `check` (the caller's name), each answer checked by violations()."""
    raws = [r.SerializeToString() for r in requests]

    def work(stopped, tell):
        transport, answers, found, started = AgentTransport(site.socket), 0, [], time.monotonic()
        while not stopped():
            for raw in raws:
                try:
                    answer = transport.unary(LIST, raw, DEADLINE)
                except HpcqError as e:
                    if e.code != "RESOURCE_EXHAUSTED":
                        raise
                    stopped(0.05)
                    continue
                answers += 1
                if check:
                    found += [f"{jobs_pb2.ListJobsRequest.FromString(raw)}: {v}"
                              for v in violations(answer, check, site.private)]
        return answers, found[:20], time.monotonic() - started
    return work


@dataclass
class Storm:
    answers: int = 0
    seconds: float = 0.0
    checked: int = 0      # answers B checked
    found: tuple = ()     # what B's checks found


@contextmanager
def storm(site: Site, requests: list[jobs_pb2.ListJobsRequest], loops: int = 2) -> Iterator[Storm]:
    """C's poll loops keep ctld busy, and B polls the same listings, checking each answer."""
    outcome = Storm()
    with ExitStack() as stack:
        pollers = [site.forked(CAROL, _poll(site, requests)) for _ in range(loops)]
        checker = site.forked(BOB, _poll(site, requests, check=BOB))
        for child in [*pollers, checker]:
            stack.callback(child.stop)
        yield outcome
        for child in pollers:
            answers, _, seconds = child.result()
            outcome.answers += answers
            outcome.seconds = max(outcome.seconds, seconds)
        outcome.checked, found, _ = checker.result()
        outcome.found = tuple(found)
    assert outcome.answers >= BUSY_READS_PER_SECOND * outcome.seconds, \
        f"the storm was too weak to make ctld busy: {outcome.answers} lists in {outcome.seconds:.1f} s"


# -- the cluster, once per module; ctld restarted for each private_data --------------------

@pytest.fixture(scope="module")
def cluster() -> Iterator[Site]:
    users = localusers.ensure(ALICE, BOB, CAROL)
    with localusers.shared_cluster("hpcq-storm.", nodes=1, cpus=2) as (cluster, env):
        yield Site(cluster, env, users)


@pytest.fixture(scope="module", params=list(PRIVACY))
def site(request, cluster: Site) -> Site:
    private = PRIVACY[request.param]
    if private != cluster.private:
        cluster.kill_ctld()
        cluster.start_ctld("ctld.private_data=[" + ",".join(f'"{p}"' for p in sorted(private)) + "]")
        cluster.private = private
    return cluster


def finished_array(site: Site, array: int, tasks: int) -> list[int] | None:
    """The ids of the array's task records once all `tasks` have finished."""
    records = [j for j in site.truth().values() if j.array_job_id == array]
    done = len(records) == tasks and all(states.is_finished(j.state) for j in records)
    return sorted(j.id for j in records) if done else None


def test_a_storm_shows_another_user_nothing_redaction_or_private_data_hides(site: Site):
    private = site.private
    site.sdk(BOB, lambda client: client.submit([bobs_spec(site)]))

    def submit_and_list(spec: jobs_pb2.JobSpec) -> Callable[[Client], tuple[int, bytes]]:
        """A's submit, and her very next List."""
        def action(client: Client) -> tuple[int, bytes]:
            [job_id] = client.submit([spec])
            return job_id, AgentTransport(site.socket).unary(LIST, POLLED[0].SerializeToString(), DEADLINE)
        return action

    def mine_whole(job_id: int, raw: bytes) -> int:
        assert violations(raw, ALICE, private) == []
        [job] = [j for j in jobs_pb2.ListJobsResponse.FromString(raw).jobs if j.id == job_id]
        assert SCRIPT_SECRET in job.spec.script and job.spec.environment["SECRET_TOKEN"] == TOKEN
        return job_id

    def next_list_shows(job_id: int, state: int) -> None:
        """B's very next List shows the job's change, as private_data lets B see it."""
        truth = site.truth()[job_id]
        assert truth.state == state
        for request, raw in zip(POLLED[:2], site.lists(BOB, *POLLED[:2]), strict=True):
            assert violations(raw, BOB, private) == []
            shown = {j.id: j.state for j in jobs_pb2.ListJobsResponse.FromString(raw).jobs}
            expected = may_see(truth, BOB, private) and jobrules.list_filter(request)(truth)
            assert shown.get(job_id) == (state if expected else None), (str(request), S.Name(state))

    # Before the storm (ctld may still be busy from the last test, or not): A's own next List.
    mine_whole(*site.sdk(ALICE, submit_and_list(alices_spec(site, "storm-held", hold=True))))
    with storm(site, POLLED) as outcome:
        later = time.time() + 3600
        waiting = mine_whole(*site.sdk(ALICE, submit_and_list(
            alices_spec(site, "storm-held", hold=True, begin_time=later))))
        next_list_shows(waiting, S.HELD)
        site.act(ALICE, "release", waiting)
        next_list_shows(waiting, S.WAITING)
        site.act(ALICE, "hold", waiting)
        next_list_shows(waiting, S.HELD)

        array = mine_whole(*site.sdk(ALICE, submit_and_list(
            alices_spec(site, "storm-array", hold=True, array=jobs_pb2.ArraySpec(tasks="1-3")))))
        next_list_shows(array, S.HELD)
        site.act(ALICE, "release", array)
        tasks = wait_until(lambda: finished_array(site, array, 3), timeout=DEADLINE, what="A's array to run")
        for task in tasks:
            next_list_shows(task, S.COMPLETED)

        site.act(ALICE, "cancel", waiting)
        next_list_shows(waiting, S.CANCELLED)

        # B's own squeue, every field, in the storm.
        squeue = localusers.run_as(site.users[BOB], ["squeue", "-t", "all", "-O",
                                                     ",".join(sorted(squeue_format.NAMED_FIELDS))], site.env)
        assert squeue.returncode == 0, squeue.stderr
        assert [s for s in SECRETS[ALICE] if s in squeue.stdout] == []
        assert (f"{array}_2 " in squeue.stdout) == ("accounting" not in private), squeue.stdout

    assert outcome.found == (), "\n".join(outcome.found)
    assert outcome.checked > 50, f"B checked only {outcome.checked} answers"


def test_filters_and_pages_in_a_storm_answer_what_a_listing_made_afresh_does(site: Site):
    private = site.private
    truth = site.truth()
    queue = next(iter(truth.values())).queue
    bobs = sum(1 for j in truth.values() if j.user == BOB and not states.is_finished(j.state))
    # B's unfinished jobs fill this page exactly: no next page, until B submits one more.
    filled = jobs_pb2.ListJobsRequest(users=[BOB], page_size=bobs)
    filters = [*POLLED, filled, jobs_pb2.ListJobsRequest(users=[BOB]),
               jobs_pb2.ListJobsRequest(users=[ALICE, BOB], states=[S.HELD, S.CANCELLED]),
               jobs_pb2.ListJobsRequest(states=[S.COMPLETED]), jobs_pb2.ListJobsRequest(queues=[queue]),
               jobs_pb2.ListJobsRequest(queues=["nosuchqueue"], include_finished=True),
               jobs_pb2.ListJobsRequest(names=["storm-array"], include_finished=True),
               jobs_pb2.ListJobsRequest(page_size=1), jobs_pb2.ListJobsRequest(include_finished=True, page_size=2)]

    def submit_and_list(client: Client) -> bytes:
        client.submit([bobs_spec(site)])
        return AgentTransport(site.socket).unary(LIST, filled.SerializeToString(), DEADLINE)

    def every_page(stopped, tell) -> list[list[bytes]]:
        """Each filter's pages, following the tokens."""
        transport, answers = AgentTransport(site.socket), []
        for request in filters:
            request, pages = jobs_pb2.ListJobsRequest.FromString(request.SerializeToString()), []
            while len(pages) < 100:
                pages.append(transport.unary(LIST, request.SerializeToString(), DEADLINE))
                request.page_token = jobs_pb2.ListJobsResponse.FromString(pages[-1]).next_page_token
                if not request.page_token:
                    break
            answers.append(pages)
        return answers

    # B's and C's loops poll the filled page every other call: kept when B's submit comes.
    with storm(site, [r for f in filters for r in (f, filled)]) as outcome:
        after_submit = site.sdk(BOB, submit_and_list)
        truth = site.truth()
        assert page(after_submit) == fresh(truth, filled, BOB, private)
        answers = site.forked(BOB, every_page).result()
    truth = site.truth()
    for request, pages in zip(filters, answers, strict=True):
        request = jobs_pb2.ListJobsRequest.FromString(request.SerializeToString())
        for raw in pages:
            assert violations(raw, BOB, private) == [], str(request)
            assert page(raw) == fresh(truth, request, BOB, private), str(request)
            request.page_token = page(raw)[1]
    assert len(answers[filters.index(filled)]) == 2   # the filled page and the one after it
    assert outcome.found == (), "\n".join(outcome.found)


def test_output_and_watch_of_another_users_job_stay_refused_across_a_ctld_restart(site: Site):
    private = site.private
    printed = os.path.join(site.home(ALICE), f"storm-running-{os.urandom(4).hex()}.out")
    [running] = site.sdk(ALICE, lambda client: client.submit([alices_spec(
        site, "storm-running", body=f"echo {OUTPUT_SECRET}\nexec sleep 600", stdout_path=printed)]))
    [held] = site.sdk(ALICE, lambda client: client.submit([alices_spec(site, "storm-held", hold=True)]))
    [bobs] = site.sdk(BOB, lambda client: client.submit([bobs_spec(site)]))
    wait_until(lambda: site.truth()[running].state == S.RUNNING and OUTPUT_SECRET in _text(printed),
               timeout=DEADLINE, what="A's job to run and print")

    def read_output(client: Client) -> tuple[str, str]:
        try:
            return "read", b"".join(client.output(running, timeout=DEADLINE)).decode(errors="replace")
        except HpcqError as e:
            return e.code, e.message

    def watch(stopped, tell) -> list[bytes]:
        """B watches A's two jobs and his own until his own is cancelled; tell() at each
        record of his own (the first, then the first after ctld came back)."""
        events = []

        def follow(client: Client) -> None:
            for job in client.watch([running, held, bobs], send_initial=True, timeout=DEADLINE):
                events.append(job.SerializeToString())
                if job.id == bobs:
                    if job.state == S.CANCELLED:
                        return
                    tell()
        site.with_client(follow)
        return events

    refused = "PERMISSION_DENIED" if may_see(site.truth()[running], BOB, private) else "NOT_FOUND"
    assert site.sdk(BOB, read_output)[0] == refused
    watcher = site.forked(BOB, watch)
    watcher.told()
    site.kill_ctld()
    # B asks for A's output while ctld is away: the client tries again until it is back.
    reader = site.forked(BOB, lambda stopped, tell: site.with_client(read_output))
    site.start_ctld()
    watcher.told()   # watching again
    site.act(ALICE, "cancel", held)
    site.act(BOB, "cancel", bobs)
    events = [jobs_pb2.Job.FromString(e) for e in watcher.result()]
    code, message = reader.result()

    assert (code, [s for s in SECRETS[ALICE] if s in message]) == (refused, [])
    assert sum(1 for e in events if e.id == bobs and e.state == S.HELD) >= 2   # before and after the restart
    for event in events:
        if event.user == BOB:
            assert BOB_SECRET in event.spec.script
        else:
            assert may_see(event, BOB, private) and auth.redacted(event) == event, (S.Name(event.state), private)
    seen = {(e.id, e.state) for e in events}
    assert ((running, S.RUNNING) in seen) == ("jobs" not in private)
    assert ((held, S.CANCELLED) in seen) == ("accounting" not in private)
    # The owner reads it, after the restart as before.
    assert site.sdk(ALICE, read_output) == ("read", f"{OUTPUT_SECRET}\n")
    site.act(ALICE, "cancel", running)
    wait_until(lambda: states.is_finished(site.truth()[running].state), timeout=DEADLINE, what="A's job to end")

    def read_after_end(client: Client) -> tuple[str, str]:
        """As the SDK reads on after a cut, to the end of a job that ended meanwhile."""
        request = jobs_pb2.OutputRequest(job_id=running, after_end=True).SerializeToString()
        try:
            chunks = client._transport.stream("/hpcq.v1.Jobs/Output", request, DEADLINE)
            return "read", b"".join(jobs_pb2.OutputChunk.FromString(c).data for c in chunks).decode(errors="replace")
        except HpcqError as e:
            return e.code, e.message
    # Read after its end: by its owner, from its node; by B, refused as while it ran.
    refused = "PERMISSION_DENIED" if may_see(site.truth()[running], BOB, private) else "NOT_FOUND"
    code, message = site.sdk(BOB, read_after_end)
    assert (code, [s for s in SECRETS[ALICE] if s in message]) == (refused, [])
    assert site.sdk(ALICE, read_after_end) == ("read", f"{OUTPUT_SECRET}\n")



def _text(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""
