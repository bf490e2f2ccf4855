"""Who a caller is at the edges, tried with two real unprivileged users and root through
the agent of clusters root started, with the real commands: root may act on every job
where the site makes it an admin (as on Slurm) and not otherwise; `qsub -u` cannot name
another user; another user's idempotency key does not reach her allocation; hpcqctl says
plainly what a user lacks."""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpcq import pki
from hpcq.allocation import Allocation, _AgentStream
from hpcq.api import jobs_pb2
from hpcq.errors import HpcqError
from tests import localusers
from tests.cluster import Cluster, start_cluster
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="creates local users and changes uid")]

ALICE, BOB = "hpcqalice", "hpcqbob"
NEEDS_ADMIN = "this needs an admin certificate ([client] cert and key of role admin or operator)"


class RootCluster:
    """A one-node cluster root started, in a directory every user may traverse, and the
    environment its users' commands get (the installed commands, the cluster's agent)."""

    def __init__(self, *settings: str) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="hpcq-identity."))
        os.chmod(self.base, 0o711)
        self.cluster: Cluster = start_cluster(self.base / "home", nodes=1, cpus=2, settings=settings)
        commands = localusers.command_dir(self.base / "bin")
        self.user_env = {"PATH": f"{commands}:/usr/bin:/bin",
                         "HPCQ_AGENT_SOCKET": str(self.cluster.home / "run" / "agent.sock")}

    def as_user(self, user, *argv: str, env: dict[str, str] | None = None):
        return localusers.run_as(user, argv, {**self.user_env, **(env or {})})

    def held_job(self, user) -> int:
        result = self.as_user(user, "sbatch", "--parsable", "-H", "--wrap", "true")
        assert result.returncode == 0, result.stderr
        return int(result.stdout.strip())

    def state(self, job_id: int) -> int:
        with self.cluster.client(admin=True) as admin:
            return admin.get([job_id])[0][0].state

    def stop(self) -> None:
        self.cluster.run("hpcqctl", "down", check=False)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def users() -> dict:
    return localusers.ensure(ALICE, BOB)


@pytest.fixture(scope="module")
def root_cluster(users) -> Iterator[RootCluster]:
    """As `hpcqctl up` makes it for root: root is an admin through the agent."""
    cluster = RootCluster()
    yield cluster
    cluster.stop()


def test_root_may_cancel_every_users_job_on_the_cluster_it_started(root_cluster: RootCluster, users) -> None:
    alice_job = root_cluster.held_job(users[ALICE])
    bob_pbs = root_cluster.as_user(users[BOB], "qsub", "-h", "--", "/bin/true")
    assert bob_pbs.returncode == 0, bob_pbs.stderr
    bob_job = int(bob_pbs.stdout.split(".")[0])

    refused = root_cluster.as_user(users[BOB], "scancel", str(alice_job))
    # Slurm 22.05's scancel exits with ESLURM_ACCESS_DENIED (2002) modulo 256
    assert refused.returncode == 210 and "Access/permission denied" in refused.stderr
    assert root_cluster.state(alice_job) == jobs_pb2.HELD

    # root's commands go through the cluster's agent (HPCQ_HOME names the cluster)
    root_cluster.cluster.run("scancel", str(alice_job))
    root_cluster.cluster.run("qdel", bob_pbs.stdout.strip())
    for job_id in (alice_job, bob_job):
        wait_until(lambda: root_cluster.state(job_id) == jobs_pb2.CANCELLED,  # noqa: B023 - waited for here
                   what=f"job {job_id} cancelled")


def test_without_root_is_admin_root_is_an_ordinary_user(users) -> None:
    plain = RootCluster("ctld.root_is_admin=false")
    try:
        alice_job = plain.held_job(users[ALICE])
        refused = plain.cluster.run("scancel", str(alice_job), check=False)
        assert refused.returncode == 210                  # ESLURM_ACCESS_DENIED, as Slurm's scancel
        assert "Access/permission denied" in refused.stderr
        assert plain.state(alice_job) == jobs_pb2.HELD
        # root's own job is still root's to cancel
        own = int(plain.cluster.run("sbatch", "--parsable", "-H", "--wrap", "true", cwd="/tmp").stdout)
        plain.cluster.run("scancel", str(own))
        wait_until(lambda: plain.state(own) == jobs_pb2.CANCELLED, what="root's own job cancelled")
    finally:
        plain.stop()


def test_qsub_u_naming_another_user_is_refused_as_pbs_refuses_it(root_cluster: RootCluster, users) -> None:
    with root_cluster.cluster.client(admin=True) as admin:
        before = admin.server_info().next_job_id
    refused = root_cluster.as_user(users[ALICE], "qsub", "-u", BOB, "-h", "--", "/bin/true")
    assert (refused.stderr, refused.returncode) == ("qsub: Bad UID for job execution\n", 15023 % 256)
    script = Path(users[ALICE].pw_dir) / "u-directive.pbs"
    script.write_text(f"#!/bin/sh\n#PBS -u {BOB}@elsewhere\ntrue\n")
    os.chown(script, users[ALICE].pw_uid, users[ALICE].pw_gid)
    refused = root_cluster.as_user(users[ALICE], "qsub", "-h", str(script))
    assert (refused.stderr, refused.returncode) == ("qsub: Bad UID for job execution\n", 15023 % 256)
    with root_cluster.cluster.client(admin=True) as admin:
        assert admin.server_info().next_job_id == before

    own = root_cluster.as_user(users[ALICE], "qsub", "-u", f"{ALICE}@anyhost", "-h", "--", "/bin/true")
    assert own.returncode == 0, own.stderr
    by_root = root_cluster.cluster.run("qsub", "-u", ALICE, "-h", "--", "/bin/true")
    for out in (own.stdout, by_root.stdout):
        root_cluster.cluster.run("qdel", out.strip())


def test_an_allocate_with_another_users_key_does_not_reach_her_allocation(root_cluster: RootCluster, users) -> None:
    """bob, through the agent, makes an Allocate with the idempotency key alice's allocation
    was made with (as if he had learnt it): he gets a job of his own or a refusal, and never
    hers; his release ends his own; hers goes on untouched until she releases it."""
    alice, bob = users[ALICE], users[BOB]
    socket_path = root_cluster.user_env["HPCQ_AGENT_SOCKET"]
    key = uuid.uuid4().hex
    report_r, report_w = os.pipe()
    told_r, told_w = os.pipe()
    pid = os.fork()
    if pid == 0:   # alice, until told to release (sockets and protobuf only: no grpc after a fork)
        try:
            os.close(report_r)
            os.close(told_w)
            os.setgroups([])
            os.setgid(alice.pw_gid)
            os.setuid(alice.pw_uid)
            allocation = _keyed_allocation(socket_path, key, "hers")
            events = allocation.events()
            job = next(j for j in events if j.state != jobs_pb2.PENDING)
            os.write(report_w, f"{job.id} {jobs_pb2.JobState.Name(job.state)}\n".encode())
            os.read(told_r, 64)
            allocation.release(0)
            os.write(report_w, f"{jobs_pb2.JobState.Name([j.state for j in events][-1])}\n".encode())
        finally:
            os._exit(0)
    os.close(report_w)
    os.close(told_r)
    try:
        with os.fdopen(report_r, "rb") as report:
            hers, granted = report.readline().split()
            assert granted == b"RUNNING"
            alice_job = int(hers)

            def bobs_call() -> tuple[int, str, str]:
                allocation = _keyed_allocation(socket_path, key, "his")
                events = allocation.events()
                first = next(events)
                allocation.release(7)
                return first.id, first.user, jobs_pb2.JobState.Name([j.state for j in events][-1])
            try:
                bob_job, bob_user, bob_end = localusers.call_as(bob.pw_uid, bob.pw_gid, bobs_call)
            except HpcqError as refused:   # a refusal is as good as a job of his own
                assert refused.code in ("PERMISSION_DENIED", "INVALID_ARGUMENT", "ALREADY_EXISTS"), refused
            else:
                assert (bob_user, bob_end) == (BOB, "FAILED")   # his own job, ended by his release (exit 7)
                assert bob_job != alice_job
            with root_cluster.cluster.client(admin=True) as admin:
                [job], _ = admin.get([alice_job])
            assert (job.user, job.state, job.cancelled_by) == (ALICE, jobs_pb2.RUNNING, "")

            os.write(told_w, b"release\n")
            assert report.readline().strip() == b"COMPLETED"
    finally:
        os.close(told_w)
        os.waitpid(pid, 0)
    with root_cluster.cluster.client(admin=True) as admin:
        [job], _ = admin.get([alice_job])
    assert (job.user, job.state, job.exit_code, job.spec.name) == (ALICE, jobs_pb2.COMPLETED, 0, "hers")


def _keyed_allocation(socket_path: str, key: str, name: str) -> Allocation:
    """An Allocate through the agent whose first message carries `key` (the SDK makes a new one each time)."""
    first = jobs_pb2.AllocateRequest(spec=jobs_pb2.JobSpec(name=name, submit_dir="/tmp"),
                                     idempotency_key=key).SerializeToString()
    return Allocation(lambda: _AgentStream(socket_path, first))


def test_hpcqctl_as_a_user_says_it_needs_an_admin_certificate(root_cluster: RootCluster, users,
                                                                tmp_path: Path) -> None:
    alice = users[ALICE]
    home = root_cluster.cluster.home
    # A site config every user may read, naming the administrator's certificate and key.
    site = Path(tempfile.mkdtemp(prefix="hpcq-site."))
    try:
        os.chmod(site, 0o755)
        shutil.copy(home / "hpcq.toml", site / "hpcq.toml")
        os.chmod(site / "hpcq.toml", 0o644)
        # And a certificate of her own, of role user, in a config of her own.
        mine = Path(alice.pw_dir) / "hpcq-cert"
        pki.issue(home / "pki", "user", ALICE, mine)
        shutil.copy(home / "pki" / "ca.crt", mine / "ca.crt")
        server = (site / "hpcq.toml").read_text().split("[client]", 1)[1].split("server = ", 1)[1].split("\n")[0]
        (mine / "hpcq.toml").write_text(f"[client]\nserver = {server}\nca = '{mine / 'ca.crt'}'\n"
                                        f"cert = '{mine / f'{ALICE}.crt'}'\nkey = '{mine / f'{ALICE}.key'}'\n")
        for path in (mine, *mine.iterdir()):
            os.chown(path, alice.pw_uid, alice.pw_gid)

        cases = {
            "no config": ({}, ["node", "list"], "[client] ca, cert, key not set"),
            "the cluster's private config": ({"HPCQ_HOME": str(home)}, ["status"], "hpcq.toml: Permission denied"),
            "the administrator's key": ({"HPCQ_CONF": str(site / "hpcq.toml")}, ["node", "list"],
                                        "client.key: Permission denied"),
            "a user certificate": ({"HPCQ_CONF": str(mine / "hpcq.toml")}, ["node", "drain", "node1"],
                                   f"user '{ALICE}' may not call DrainNode"),
        }
        for case, (env, argv, why) in cases.items():
            result = root_cluster.as_user(alice, "hpcqctl", *argv, env=env)
            assert result.returncode == 1, case
            assert result.stderr.count("\n") == 1, (case, result.stderr)
            assert result.stderr.startswith("hpcqctl: ")
            assert why in result.stderr and NEEDS_ADMIN in result.stderr, (case, result.stderr)
            assert "no hpcq-agent socket" not in result.stderr, case

        down = root_cluster.as_user(alice, "hpcqctl", "down", env={"HPCQ_HOME": str(home)})
        assert (down.returncode, down.stderr) == (
            1, f"hpcqctl: the local cluster in {home} belongs to root: only root may `hpcqctl down` it\n")
        with root_cluster.cluster.client(admin=True) as admin:
            assert [n.name for n in admin.nodes() if n.connected] == ["node1"]
    finally:
        shutil.rmtree(site, ignore_errors=True)
