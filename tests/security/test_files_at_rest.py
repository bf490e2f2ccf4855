"""Files at rest: on a cluster root started, its daemons under a umask of 000, one local
user can read or list nothing under the cluster's home — database and WAL, audit and
daemon logs, keys, config, pid files, spool — while another user's job runs (its spool
directory, script and node file in place) and after it has finished. The job
itself still reads its own script and node file. Daemons narrow on start what they
find open to others, and say so in their log."""
from __future__ import annotations

import errno
import os
import pwd
import shutil
import signal
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpcq.api import jobs_pb2
from hpcq.transport import AgentTransport
from tests import localusers
from tests.cluster import Cluster, start_cluster
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="creates local users and changes uid")]

OWNER, OTHER = "hpcqalice", "hpcqbob"

# What every local user may reach on purpose, and why. Everything else must refuse OTHER.
PUBLIC = {
    "run/agent.sock": "the agent's socket: every local user submits through it (opening it as a file "
                      "fails with ENXIO; connecting is the point)",
}

# Files a healthy running cluster has: the walk must have met each one, or it proved nothing.
EXPECTED_WHILE_RUNNING = {
    "hpcq.toml", "hpcq.db", "hpcq.db-wal", "hpcq.db-shm", "audit.log", "pki/ca.key", "pki/ctld.key",
    "log/ctld.log", "log/ctld.out", "log/node1.log", "log/agent.log", "run/ctld.pid", "run/node1.pid",
    "spool/node1/jobs/{attempt}/script", "spool/node1/jobs/{attempt}/nodefile",
    "spool/node1/jobs/{attempt}/supervisor.json",
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Cluster, dict[str, pwd.struct_passwd], Path]]:
    people = localusers.ensure(OWNER, OTHER)
    # Jobs of other users pass through the cluster's home to their spool files: its parent
    # must let them (pytest's own tmp directories are root's alone).
    base = Path(tempfile.mkdtemp(prefix="hpcq-at-rest."))
    os.chmod(base, 0o711)
    work = base / "work"  # the job owner's, for the job's output
    work.mkdir(mode=0o700)
    os.chown(work, people[OWNER].pw_uid, people[OWNER].pw_gid)
    old = os.umask(0)  # inherited by hpcqctl and every daemon it starts: the umask must not matter
    try:
        started = start_cluster(base / "home", nodes=1)
    finally:
        os.umask(old)
    try:
        yield started, people, work
    finally:
        started.run("hpcqctl", "down", check=False)
        shutil.rmtree(base, ignore_errors=True)


def submit_as(user: pwd.struct_passwd, sock: Path, script: str, workdir: Path) -> int:
    def submit() -> int:
        spec = jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM, script=script, submit_dir=str(workdir))
        reply = AgentTransport(sock).unary("/hpcq.v1.Jobs/Submit",
                                           jobs_pb2.SubmitRequest(specs=[spec]).SerializeToString(), 10)
        return jobs_pb2.SubmitResponse.FromString(reply).job_ids[0]
    return localusers.call_as(user.pw_uid, user.pw_gid, submit)


def everything_under(home: Path) -> dict[str, str]:
    """Every directory and file below `home` (and home itself), relative path -> kind."""
    found = {".": "dir"}
    for directory, dirs, files in os.walk(home):
        for name in dirs + files:
            path = Path(directory) / name
            mode = path.lstat().st_mode
            kind = "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else \
                "socket" if stat.S_ISSOCK(mode) else "other"
            found[str(path.relative_to(home))] = kind
    return found


def what_another_user_gets(home: Path, paths: dict[str, str]) -> dict[str, str]:
    """For each path, what OTHER gets trying to list it (a directory) or open it for
    reading (anything else): an errno name, or "listed" / "opened"."""
    def attempt() -> dict[str, str]:
        outcome = {}
        for relative, kind in paths.items():
            path = home / relative
            try:
                if kind == "dir":
                    os.listdir(path)
                    outcome[relative] = "listed"
                else:
                    os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
                    outcome[relative] = "opened"
            except OSError as e:
                outcome[relative] = errno.errorcode.get(e.errno, str(e.errno))
        return outcome
    other = pwd.getpwnam(OTHER)
    return localusers.call_as(other.pw_uid, other.pw_gid, attempt)


def assert_nothing_readable_by_another_user(home: Path, expected: set[str]) -> None:
    paths = everything_under(home)
    assert expected <= set(paths), f"not found, so not tried: {sorted(expected - set(paths))}"
    outcome = what_another_user_gets(home, paths)
    public = {p: outcome[p] for p in PUBLIC}
    assert public == {"run/agent.sock": "ENXIO"}  # there, and not a file
    leaks = {p: got for p, got in outcome.items() if p not in PUBLIC and got != "EACCES"}
    assert leaks == {}
    # And not merely hidden behind a directory: no file hpcq wrote is open to others by its
    # mode (certificates are public by nature, and sit in the 0700 pki directory).
    open_modes = {p: f"{stat.S_IMODE((home / p).lstat().st_mode):04o}" for p, kind in paths.items()
                  if p not in PUBLIC and not p.endswith(".crt") and (home / p).lstat().st_mode & 0o066}
    assert open_modes == {}


def test_another_user_reads_nothing_while_a_job_runs_and_after(cluster):
    c, people, work = cluster
    owner = people[OWNER]
    # script.seen appears whole (the shell's > creates it before head writes).
    script = ('#!/bin/sh\ncat "$PBS_NODEFILE" > nodefile.seen && head -1 "$0" > script.part && '
              'mv script.part script.seen\n'
              "while [ ! -e release ]; do sleep 0.05; done\n")
    job = submit_as(owner, c.home / "run" / "agent.sock", script, work)
    wait_until(lambda: (work / "script.seen").exists(), what="the job to read its own files")
    # The job, as its owner, read its node file and script through the spool.
    assert (work / "nodefile.seen").read_text() == "node1\n"
    assert (work / "script.seen").read_text() == "#!/bin/sh\n"
    [attempt] = (c.home / "spool" / "node1" / "jobs").glob(f"{job}.*")
    assert (attempt.stat().st_uid, attempt.stat().st_gid, stat.S_IMODE(attempt.stat().st_mode)) == \
        (0, owner.pw_gid, 0o710)

    assert_nothing_readable_by_another_user(c.home, {p.format(attempt=attempt.name) for p in EXPECTED_WHILE_RUNNING})

    (work / "release").touch()
    with c.client(admin=True) as admin:
        wait_until(lambda: admin.get([job])[0][0].state == jobs_pb2.COMPLETED, what="the job to complete")
    assert_nothing_readable_by_another_user(c.home, {"hpcq.db", "hpcq.db-wal", "audit.log", "log/ctld.log"})


def test_daemons_narrow_what_they_find_open_on_start_and_say_so(cluster):
    c, _, _ = cluster
    home = c.home
    # Killed, not stopped: SQLite's WAL stays, as after a crash.
    pids = {d: int((home / "run" / f"{d}.pid").read_text()) for d in ("ctld", "node1", "agent")}
    for pid in pids.values():
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not any(Path(f"/proc/{pid}").exists() and _not_zombie(pid) for pid in pids.values()),
               what="the daemons to die")
    opened = {"hpcq.db": 0o644, "hpcq.db-wal": 0o644, "audit.log": 0o644, "log/agent.log": 0o644,
              "spool/node1": 0o777, "spool/node1/jobs": 0o755}
    assert (home / "hpcq.db-wal").exists()
    for relative, mode in opened.items():
        os.chmod(home / relative, mode)

    old = os.umask(0)
    try:
        c.run("hpcqctl", "up", "--nodes", "1")
    finally:
        os.umask(old)

    assert {p: f"{stat.S_IMODE((home / p).stat().st_mode):04o}" for p in opened} == {
        "hpcq.db": "0600", "hpcq.db-wal": "0600", "audit.log": "0600", "log/agent.log": "0600",
        "spool/node1": "0711", "spool/node1/jobs": "0711"}
    said = {
        "ctld": [f"{home / 'hpcq.db'} was open to others (mode 0644); narrowed to 0600",
                 f"{home / 'hpcq.db-wal'} was open to others (mode 0644); narrowed to 0600"],
        "node1": [f"{home / 'spool' / 'node1'} was open to others (mode 0777); narrowed to 0711",
                  f"{home / 'spool' / 'node1' / 'jobs'} was open to others (mode 0755); narrowed to 0711"],
        "agent": [f"{home / 'log' / 'agent.log'} was open to others (mode 0644); narrowed to 0600"],
    }
    for daemon, lines in said.items():
        log = c.log(daemon)
        for line in lines:
            assert sum(f"WARNING hpcq.private_files: {line}" in entry for entry in log.splitlines()) == 1, \
                (daemon, line)
    # The audit log is narrowed when ctld opens it, after the store: its line is there too.
    assert f"{home / 'audit.log'} was open to others (mode 0644); narrowed to 0600" in c.log("ctld")
    with c.client(admin=True) as admin:
        assert admin.server_info().next_job_id > 1  # the store came back whole


def _not_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False
