"""A hostile (or careless) second user against round 4's features — live output, array
task refs, split-out tasks, idempotent submit keys — on one cluster root started, through
the host agent as two real local users. Each test is an attack that must keep failing, or
a weakness found by trying, kept fixed."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpcq.api import jobs_pb2
from hpcq.client import Client
from hpcq.transport import AgentTransport
from tests import localusers
from tests.cluster import Cluster
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="creates local users and changes uid")]

ALICE, BOB = "hpcqalice", "hpcqbob"
R = jobs_pb2.JobActionResult


@pytest.fixture(scope="module")
def users() -> dict:
    return localusers.ensure(ALICE, BOB)


@pytest.fixture(scope="module")
def site(users) -> Iterator[tuple[Cluster, dict[str, str]]]:
    # 4 CPUs: a throttle that did not hold would show as a second task running
    with localusers.shared_cluster("hpcq-round4.", cpus=4) as site:
        yield site


def _as(users: dict, name: str, site, *argv: str) -> tuple[int, str, str]:
    done = localusers.run_as(users[name], argv, site[1])
    return done.returncode, done.stdout, done.stderr


def _submit(users: dict, name: str, site, *argv: str) -> int:
    code, out, err = _as(users, name, site, "sbatch", "--parsable", *argv)
    assert code == 0, err
    return int(out.strip())


def _squeue(users: dict, name: str, site, job_id: int) -> dict[str, tuple[str, str]]:
    """Each record of the job (an array's tasks one a line): id -> (state, reason)."""
    code, out, err = _as(users, name, site, "squeue", "-h", "-r", "-j", str(job_id), "-o", "%i %t %r")
    assert code == 0, err
    return {i: (t, r) for i, t, r in (line.split(None, 2) for line in out.splitlines())}


def test_another_users_output_is_refused_and_a_swapped_symlink_reads_nothing(site, users) -> None:
    """B follows A's running job (sattach, hpcqctl tail): refused. A swaps the output
    file for a symlink to /etc/shadow after the start: noded opens the path as A, never
    through a final symlink, and only A's own regular file: tail fails, nothing of shadow."""
    home = Path(users[ALICE].pw_dir)
    out = home / "round4-out.txt"
    out.unlink(missing_ok=True)
    job = _submit(users, ALICE, site, "-o", str(out), "--wrap", "echo round4-start; sleep 120")
    try:
        wait_until(lambda: _as(users, ALICE, site, "hpcqctl", "tail", str(job))[1] == "round4-start\n", timeout=60,
                   what="A's job's first line through hpcqctl tail")
        for argv in (("sattach", f"{job}.batch"), ("hpcqctl", "tail", str(job))):
            code, stdout, stderr = _as(users, BOB, site, *argv)
            assert code != 0 and not stdout, (argv, code, stdout)
            assert "denied" in stderr or "not your job" in stderr, stderr
        localusers.run_as(users[ALICE], ["sh", "-c", f"mv {out} {out}.old && ln -s /etc/shadow {out}"], site[1])
        code, stdout, stderr = _as(users, ALICE, site, "hpcqctl", "tail", str(job))
        assert code != 0 and "root:" not in stdout + stderr, (stdout, stderr)
        assert "symbolic links" in stderr, stderr
    finally:
        _as(users, ALICE, site, "scancel", str(job))
        for left in (out, home / "round4-out.txt.old"):
            left.unlink(missing_ok=True)


def test_a_task_split_out_of_its_array_keeps_the_arrays_throttle(site, users) -> None:
    """A holds and releases one task of a %1 array: it got a record of its own and ran
    beside the array's running task. B's hold of the same task is refused and splits
    nothing."""
    array = _submit(users, ALICE, site, "--array=0-4%1", "-o", "/dev/null", "--wrap", "sleep 120")
    try:
        wait_until(lambda: _squeue(users, ALICE, site, array).get(f"{array}_0", ("",))[0] == "R", timeout=60,
                   what="the array's first task running")
        code, _, stderr = _as(users, BOB, site, "scontrol", "hold", f"{array}_3")
        assert code != 0 and ("denied" in stderr.lower() or "invalid user" in stderr.lower()), stderr
        for action in ("hold", "release"):
            code, _, stderr = _as(users, ALICE, site, "scontrol", action, f"{array}_3")
            assert code == 0, stderr
        wait_until(lambda: _squeue(users, ALICE, site, array).get(f"{array}_3") == ("PD", "JobArrayTaskLimit"),
                   timeout=60, what="the split-out task waiting for the throttle")
        running = [i for i, (t, _) in _squeue(users, ALICE, site, array).items() if t == "R"]
        assert running == [f"{array}_0"]
    finally:
        _as(users, ALICE, site, "scancel", str(array))


def _ctld_cpu_seconds(cluster: Cluster) -> float:
    pid = (cluster.home / "run" / "ctld.pid").read_text().strip()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_flood_of_task_refs_to_someone_elses_array_costs_ctld_little(site, users) -> None:
    """B names one task of A's held array of 500 scattered indices 50,000 times in one Hold:
    each ref parsed the array's pending rest again (12 s of ctld's CPU for this request,
    25 s at the 100,000 refs a request may carry). Now it is parsed once."""
    indices = ",".join(str(i) for i in range(0, 1000, 2) if i % 3)      # scattered: many runs
    array = _submit(users, ALICE, site, "-H", f"--array={indices}", "-o", "/dev/null", "--wrap", "true")
    refs = jobs_pb2.JobActionRequest(tasks=[jobs_pb2.ArrayTaskRef(array_job_id=array, task=4)] * 50_000)
    socket_path = site[1]["HPCQ_AGENT_SOCKET"]

    def flood() -> list[int]:
        reply = AgentTransport(socket_path).unary("/hpcq.v1.Jobs/Hold", refs.SerializeToString(), 120)
        return sorted({r.code for r in jobs_pb2.JobActionResponse.FromString(reply).results})
    try:
        before = _ctld_cpu_seconds(site[0])
        bob = users[BOB]
        assert localusers.call_as(bob.pw_uid, bob.pw_gid, flood) == [R.NOT_PERMITTED]
        assert _ctld_cpu_seconds(site[0]) - before < 5.0
    finally:
        _as(users, ALICE, site, "scancel", str(array))


def test_a_submit_key_is_its_users_own(site, users) -> None:
    """B submits with the idempotency key A used: a submit of B's own, a new job, and
    nothing of A's job ids; A's retry of the key still answers A's job."""
    socket_path = site[1]["HPCQ_AGENT_SOCKET"]
    spec = jobs_pb2.JobSpec(name="keyed", script="#!/bin/sh\ntrue\n", submit_dir="/tmp", hold=True)

    def submit() -> list[int]:
        with Client(AgentTransport(socket_path)) as client:
            return client.submit([spec], idempotency_key="round4-shared-key")
    alice, bob = users[ALICE], users[BOB]
    first = localusers.call_as(alice.pw_uid, alice.pw_gid, submit)
    theirs = localusers.call_as(bob.pw_uid, bob.pw_gid, submit)
    again = localusers.call_as(alice.pw_uid, alice.pw_gid, submit)
    try:
        assert again == first and not set(theirs) & set(first), (first, theirs, again)
    finally:
        for name, ids in ((ALICE, first), (BOB, theirs)):
            _as(users, name, site, "scancel", *map(str, ids))
