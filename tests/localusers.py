"""Real unprivileged local users for the tests that need more than one person: created
with useradd (the tests run as root), and commands run as them with their own uid, gid
and environment, as a login shell would give them.

The users run hpcq's installed commands. Where the test's interpreter is out of their
reach (a pyenv under /root, 0700), `command_dir` writes the same console scripts for an
interpreter of the same version that every user may run (Debian's /usr/bin/python3.X),
with the same site-packages: what a site's system-wide install gives its users."""
from __future__ import annotations

import fcntl
import os
import pickle
import pwd
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import pytest

from hpcq.errors import HpcqError


def ensure(*names: str) -> dict[str, pwd.struct_passwd]:
    """The users, created (with a home) if this machine has them not yet. One creator
    at a time: the suite's workers (pytest -n) ask for the same users at once, and
    useradd refuses while another holds /etc/passwd's lock."""
    with open(Path(tempfile.gettempdir()) / "hpcq-tests-useradd.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name in names:
            try:
                pwd.getpwnam(name)
            except KeyError:
                subprocess.run(["useradd", "--create-home", name], check=True)
    return {name: pwd.getpwnam(name) for name in names}


def environment(user: pwd.struct_passwd, base: Mapping[str, str]) -> dict[str, str]:
    """`base` (PATH, HPCQ_* ...) with the user's own HOME, USER and LOGNAME."""
    return {**base, "HOME": user.pw_dir, "USER": user.pw_name, "LOGNAME": user.pw_name}


def run_as(user: pwd.struct_passwd, argv: Sequence[str], env: Mapping[str, str], *, cwd: str | Path | None = None,
           input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a real command as `user` (no supplementary groups), in its home unless `cwd`."""
    def become() -> None:
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
    return subprocess.run(list(argv), env=environment(user, env), cwd=cwd or user.pw_dir, input=input,
                          capture_output=True, text=True, timeout=timeout, preexec_fn=become)


def call_as(uid: int, gid: int, action: Callable[[], object]) -> object:
    """action() in a forked child that has become uid (no supplementary groups): its
    result, or its HpcqError raised here. The child should use only sockets and protobuf
    (hpcq's AgentTransport, the SDK over it), never grpc, which does not survive a fork."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            try:
                result = ("ok", action())
            except HpcqError as e:
                result = ("error", (e.code, e.message))
            os.write(write_end, pickle.dumps(result))
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    kind, value = pickle.loads(data)
    if kind == "error":
        raise HpcqError(*value)
    return value


def _everyone_may_run(path: Path) -> bool:
    path = path.resolve()
    if not path.stat().st_mode & stat.S_IXOTH:
        return False
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.parents)


def command_dir(where: Path) -> Path:
    """A directory, reachable by every user, whose commands (sbatch, qstat, ... every
    console script of hpcq) run hpcq as installed for this test run."""
    interpreter = Path(sys.executable)
    if not _everyone_may_run(interpreter):
        interpreter = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
        if not interpreter.exists() or not _everyone_may_run(interpreter):
            pytest.skip(f"no Python {sys.version_info.major}.{sys.version_info.minor} that other users may run")
    site_packages = sysconfig.get_paths()["purelib"]
    where.mkdir(parents=True, exist_ok=True)
    os.chmod(where, 0o755)
    for entry in metadata.distribution("hpcq").entry_points:
        if entry.group != "console_scripts":
            continue
        module, _, func = entry.value.partition(":")
        script = where / entry.name
        # The test run's packages first: the system's own (an older cryptography in
        # Debian's dist-packages) must not shadow them.
        script.write_text(f"#!{interpreter}\nimport site, sys\nsite.addsitedir({site_packages!r})\n"
                          f"sys.path.remove({site_packages!r})\nsys.path.insert(0, {site_packages!r})\n"
                          f"from {module} import {func}\nsys.exit({func}())\n")
        os.chmod(script, 0o755)
    return where


@contextmanager
def shared_cluster(prefix: str, *settings: str, nodes: int = 1, cpus: int = 2) -> Iterator[tuple]:
    """A cluster root starts (`hpcqctl up`, with `settings`) where every user reaches its
    agent, and the environment the users' commands get: (Cluster, env)."""
    from tests.cluster import start_cluster
    base = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(base, 0o711)      # the way to the agent's socket, for every user
    cluster = start_cluster(base / "home", nodes=nodes, cpus=cpus, settings=settings)
    commands = command_dir(base / "bin")
    env = {"PATH": f"{commands}:/usr/bin:/bin", "HPCQ_AGENT_SOCKET": str(cluster.home / "run" / "agent.sock")}
    try:
        yield cluster, env
    finally:
        cluster.run("hpcqctl", "down", check=False)
        shutil.rmtree(base, ignore_errors=True)
