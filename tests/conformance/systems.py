"""The two systems a conformance case runs on: the reference Slurm (Debian's slurm-wlm
22.05, its own slurmctld and slurmd started by slurm_up.sh) and an hpcq local cluster
configured alike — one node named as the host, the same CPUs and memory, partition
``batch``, the same cluster name (one per run), a 60-minute default time limit.

A command line runs on both under the same name (``argv[0]`` is ``squeue``, so that
getopt's messages match) from the same working directory, with the same environment but
for what points a command at its system: Slurm's commands are called by absolute path
(/usr/bin) with SLURM_CONF naming the suite's instance, hpcq's from this interpreter's
scripts directory with HPCQ_HOME naming its cluster.
"""
from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from hpcq import testing

HERE = Path(__file__).resolve().parent
HOST = socket.gethostname().split(".")[0]


def _cpus() -> int:
    """The node's CPUs: at least 5 (the scenario keeps 4 busy), and not a multiple of this
    machine's physical cores, so that hpcq's node reports them as cores of one thread
    (sinfo_format.socket_core_thread), as the reference node declares them: Slurm allocates
    whole cores of a node with several threads per core."""
    physical = psutil.cpu_count(logical=False) or 1
    return next(n for n in range(5, 64) if physical == 1 or n % physical)


CPUS = _cpus()
# A cluster name of this run's own: the reference slurmdbd is shared and keeps every run's
# jobs, which sacct would otherwise find under the same ids.
CLUSTER = f"cf{int(time.time()) % 10**8:08d}"
MEMORY_MB = 4000
SLURM_BIN = Path("/usr/bin")
COMMAND_TIMEOUT = 30.0
MAX_OUTPUT = 1 << 20
# Variables of the caller's environment that would point a command elsewhere or change its
# output; a case sets what it wants (SQUEUE_FORMAT, SLURM_TIME_FORMAT...) itself.
_DROPPED = ("HPCQ_HOME", "HPCQ_CONF", "HPCQ_AGENT_SOCKET", "SLURM_CONF", "SQUEUE_FORMAT", "SQUEUE_FORMAT2",
            "SQUEUE_SORT", "SINFO_FORMAT", "SINFO_SORT", "SACCT_FORMAT", "SLURM_TIME_FORMAT", "SLURM_CLUSTERS",
            "SLURM_JOB_ID", "SLURM_JOBID", "SQUEUE_USERS", "SQUEUE_STATES", "SACCT_FEDERATION", "SLURM_BITSTR_LEN")


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str
    status: int


@dataclass
class System:
    name: str                 # "slurm" or "hpcq"
    bindir: Path
    env: dict[str, str]
    cwd: Path

    def run(self, argv: list[str], env: dict[str, str] | None = None, stdin: str = "") -> Result:
        # Output goes to files, of which the first MAX_OUTPUT bytes are read: a command that
        # loops printing (a prompt at end of input) must not fill this process's memory.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                done = subprocess.run(argv, executable=self.bindir / argv[0], input=stdin.encode(), stdout=out,
                                      stderr=err, cwd=self.cwd, env={**self.env, **(env or {})},
                                      timeout=COMMAND_TIMEOUT)
                status = done.returncode
            except subprocess.TimeoutExpired:
                status = -1
            texts = []
            for f in (out, err):
                f.seek(0)
                texts.append(f.read(MAX_OUTPUT).decode(errors="replace"))
        if status == -1:
            texts[1] += f"<timed out after {COMMAND_TIMEOUT:.0f} s>"
        return Result(texts[0], texts[1], status)

    def has(self, command: str) -> bool:
        return (self.bindir / command).exists()


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
    env.update(LANG="C.UTF-8", LC_ALL="C.UTF-8", TZ="UTC", COLUMNS="500")
    return env


def start_slurm(workdir: Path) -> System:
    """slurm_up.sh: install (on a fresh machine) and start the reference Slurm, fresh."""
    sizes = {"CPUS": str(CPUS), "MEMORY_MB": str(MEMORY_MB), "CLUSTER": CLUSTER}
    done = subprocess.run(["bash", str(HERE / "slurm_up.sh")], capture_output=True, text=True,
                          env={**_base_env(), **sizes}, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"slurm_up.sh failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    conf = done.stdout.strip().splitlines()[-1]
    env = {**_base_env(), "SLURM_CONF": conf, "PATH": f"{SLURM_BIN}:/usr/sbin:/bin:/sbin"}
    return System("slurm", SLURM_BIN, env, workdir)


def stop_slurm() -> None:
    subprocess.run(["bash", str(HERE / "slurm_up.sh"), "down"], capture_output=True, timeout=120)


# Slurm's default priority/basic orders jobs by submission alone: no multifactor weights.
_SLURM_PRIORITY = [f"ctld.priority_weight_{factor}=0" for factor in ("age", "fairshare", "job_size", "queue")]


def start_hpcq(home: Path, workdir: Path) -> System:
    """An hpcq local cluster whose one node is named as the host (as Slurm's is), offering
    the reference node's CPUs and memory."""
    from hpcq import config as configuration
    from hpcq import pki
    from hpcq.ctl.local import LocalCluster

    bindir = testing.commands_dir()
    env = {**_base_env(), "HPCQ_HOME": str(home), "PATH": f"{bindir}:{os.environ.get('PATH', '')}"}
    # The node offers more CPUs than this machine may have: no confinement to real cores.
    # MailProg=/bin/true in the reference's slurm.conf: a mail program, which sends nothing.
    settings = ["noded.confine_jobs=false", "ctld.sched_interval=1", f"cluster.name={CLUSTER}",
                "ctld.mail_program=/bin/true", *_SLURM_PRIORITY]
    done = subprocess.run([str(bindir / "hpcqctl"), "up", "--nodes", "0", *(f"--set={s}" for s in settings)],
                          capture_output=True, text=True, env=env, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"hpcqctl up failed:\n{done.stdout}\n{done.stderr}")
    cluster = LocalCluster(home)
    pki.issue(cluster.pki, "node", HOST, cluster.pki)
    cluster._spawn(HOST, ["hpcq.noded.main", "-c", str(cluster.conf_path), "--name", HOST,
                          "--cert", str(cluster.pki / f"{HOST}.crt"), "--key", str(cluster.pki / f"{HOST}.key"),
                          "--spool", str(home / "spool" / HOST), "--cpus", str(CPUS), "--memory", str(MEMORY_MB)])
    cluster.wait_ready(configuration.load(cluster.conf_path), [HOST])
    return System("hpcq", bindir, env, workdir)


def stop_hpcq(system: System) -> None:
    """Cancel its jobs (their processes outlive the daemons), then stop the daemons."""
    testing.Cluster(Path(system.env["HPCQ_HOME"]), system.env).stop()

