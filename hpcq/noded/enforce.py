"""How a job is held to what it was allocated: cgroup v2, cgroup v1, or affinity + rlimits.

noded picks one at start (`detect`), from what the host offers, and says which in its log
and in the Hardware it registers. Each launch plan then carries the job's part
(`job_limits`): the chosen kind, the directories to make its cgroup in, the host CPUs its
allocated cpu ids stand for and its memory limit in bytes. The supervisor
(hpcq.noded.jobd) carries it out with `JobConfinement`: plain files and system calls,
nothing imported beyond os, as everything a forked supervisor touches is a page copied.

What each kind gives:

- cgroup/v1 (cpuset, memory, cpuacct hierarchies, root): the job's cpuset is exactly its
  CPUs; memory.limit_in_bytes (and memory.memsw.limit_in_bytes, so no swap beyond it) is
  its memory; an OOM kill is counted (memory.oom_control) and ends the job OUT_OF_MEMORY;
  every process of the job is in the cgroup and killed at its end; usage (CPU user and
  system, peak memory) is read from the cgroup. With the devices hierarchy too, the node's
  GPU device nodes (/dev/nvidia<N>, char 195:N) other than the job's are denied to it
  (devices.deny); /dev/nvidiactl and /dev/nvidia-uvm stay open, as the job's GPUs need them.
- cgroup/v2 (a delegated subtree with cpuset, memory, cpu, pids): the same, with
  cpuset.cpus, memory.max, memory.swap.max = 0, memory.events, memory.peak, cpu.stat and
  cgroup.kill. Devices are not fenced: v2 has no file for it (an eBPF program would be
  needed), and the node's description says so.
- affinity+rlimits (neither, e.g. an unprivileged personal cluster): the job's CPU
  affinity is its CPUs, but the job may widen it again; memory is RLIMIT_DATA per
  process (a process that maps more gets ENOMEM; processes together may exceed it; no
  OUT_OF_MEMORY); processes are tracked by the supervisor as child subreaper.

A job cgroup is made under noded's own cgroup, so that a noded started inside a limited
cgroup keeps its jobs inside that limit: <own>/hpcq/job_<id>.<attempt>.<pid>.<start>, named
for the process that makes it (the supervisor, or a step's helper) by its pid and its start
time (/proc/<pid>/stat field 22, clock ticks since boot). That pair names one process for as
long as the host is up, so the name never repeats, though cgroup v1's hierarchies are the
whole host's, shared by every noded and cluster on it (job ids start at 1 in each, and pids
are recycled). The supervisor records the name in its supervisor.json (hpcq.noded.spool),
where noded finds the cgroups of a supervisor that is gone; a record of an earlier hpcq has
none, and its supervisor's cgroups have the name of that version, job_<id>.<attempt>.<pid>.

A supervisor killed before it removed its cgroups leaves them behind, here or in another
cluster on the host. When noded starts (`sweep`), it removes every job cgroup under its bases
that has no process in it and whose maker is gone: that pid runs no more, or another process
started since holds it. A cgroup of an earlier hpcq's name is removed only when no process
has its pid: one of a live pid may be a supervisor's, being made.
"""
from __future__ import annotations

import contextlib
import errno
import os
import signal

from hpcq import confinement

TYPE_CHECKING = False  # see hpcq.noded.spool
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

V2, V1, AFFINITY = confinement.CGROUP_V2, confinement.CGROUP_V1, confinement.AFFINITY
V1_CONTROLLERS = ("cpuset", "memory", "cpuacct")
V1_DEVICES = "devices"   # used where the host has it: a host may have no GPUs to fence
NVIDIA_MAJOR = 195       # /dev/nvidia<N> is char 195:N (195:255 is nvidiactl, which stays open)
DEVICES_NOT_ENFORCED = "devices not enforced"
V2_CONTROLLERS = ("cpuset", "cpu", "memory", "pids")
_BASE = "hpcq"
_V2_NODED = "noded"   # v2: a leaf for noded itself, as its cgroup may not hold processes and children


class Enforcement:
    """What noded chose at start, and what every job's plan gets of it."""

    def __init__(self, kind: str, host_cpus: list[int], bases: dict[str, str] | None = None,
                 homes: dict[str, str] | None = None, memsw: bool = False, why: str = "",
                 gpus: list[int] | None = None) -> None:
        self.kind = kind
        self.host_cpus = host_cpus            # the CPUs allocated ids 0, 1, ... stand for
        self.bases = bases or {}              # controller (v1) or "unified" (v2) -> where job cgroups go
        self.homes = homes or {}              # the same -> the cgroup noded (and so each supervisor) is in
        self.memsw = memsw
        self.why = why                        # why a stronger kind was not used ("" if none was expected)
        self.gpus = gpus or []                # the GPU indices noded reported (hpcq.noded.hardware)
        # [noded] confine_cores, confine_memory, track_processes: each constraint may be turned off
        self.cores = self.memory = self.track = True
        # v1: the root cpuset balances load over every CPU, so a job's cpuset need not ask for it
        self.root_balances = False

    def switch(self, *, cores: bool = True, memory: bool = True, track: bool = True) -> Enforcement:
        self.cores, self.memory, self.track = cores, memory, track
        return self

    def describe(self) -> str:
        """What noded logs and reports: the kind and, for the fallback, its weaker guarantee."""
        off = [name for name, on in ((confinement.CORES, self.cores), (confinement.MEMORY, self.memory),
                                     (confinement.PROCESSES, self.track)) if not on]
        if self.kind == AFFINITY:
            text = ("affinity+rlimits (CPU affinity, which a job may change; RLIMIT_DATA per process; "
                    "no OOM detection)")
            text = f"{text}: {self.why}" if self.why else text
        else:
            parts = ", ".join(self.bases if self.kind == V1 else V2_CONTROLLERS)
            fenced = "" if V1_DEVICES in self.bases else f"; {DEVICES_NOT_ENFORCED}"
            text = f"{self.kind} ({parts}{', memsw' if self.memsw else ''}{fenced})"
        return f"{text}{confinement.OFF}{', '.join(off)}" if off else text

    def job_limits(self, job_id: int, attempt: int, cpu_ids: list[int], mem_mb: int,
                   gpu_ids: list[int] | tuple[int, ...] = ()) -> dict[str, Any]:
        """The plan's "confine" entry for one job on this node."""
        n = len(self.host_cpus)
        cpus = sorted({self.host_cpus[i % n] for i in cpu_ids}) if n and self.cores else []
        denied = [f"c {NVIDIA_MAJOR}:{g} rwm" for g in self.gpus if g not in gpu_ids] \
            if V1_DEVICES in self.bases else []
        return {"kind": self.kind, "name": job_name(job_id, attempt), "bases": self.bases, "homes": self.homes,
                "memsw": self.memsw, "cpus": cpus, "mem_bytes": mem_mb << 20 if self.memory else 0,
                "track": self.track, "devices_denied": denied, "root_balances": self.root_balances}


# --- choosing, in noded -------------------------------------------------------------------

def detect(root: str = "/sys/fs/cgroup", proc: str = "/proc/self", gpus: list[int] | None = None) -> Enforcement:
    """The strongest kind the host lets this process use, its cgroups made ready; `gpus`
    are the GPU indices of the node, those a job was not given are fenced off (v1)."""
    e = _detect(root, proc)
    e.gpus = gpus or []
    return e


def _detect(root: str, proc: str) -> Enforcement:
    host_cpus = sorted(os.sched_getaffinity(0))
    own = _own_cgroups(f"{proc}/cgroup")
    reasons = []
    if os.path.exists(f"{root}/cgroup.controllers"):
        try:
            return _prepare_v2(root, own.get("", "/"), host_cpus)
        except OSError as e:
            reasons.append(f"cgroup v2: {e.strerror or e}")
    elif all(os.path.isdir(f"{root}/{c}") for c in V1_CONTROLLERS):
        try:
            return _prepare_v1(root, own, host_cpus)
        except OSError as e:
            reasons.append(f"cgroup v1: {e.strerror or e}")
    else:
        reasons.append(f"no cgroup v2 or v1 ({', '.join(V1_CONTROLLERS)}) under {root}")
    return Enforcement(AFFINITY, host_cpus, why="; ".join(reasons))


def _own_cgroups(path: str) -> dict[str, str]:
    """controller -> this process's cgroup in its hierarchy ("" for the v2 one)."""
    own = {}
    with open(path) as f:
        for line in f:
            _, controllers, cgroup = line.rstrip("\n").split(":", 2)
            for c in controllers.split(","):
                own[c] = cgroup
    return own


def _prepare_v1(root: str, own: dict[str, str], host_cpus: list[int]) -> Enforcement:
    bases, homes = {}, {}
    optional = (V1_DEVICES,) if os.path.isdir(f"{root}/{V1_DEVICES}") else ()
    for c in V1_CONTROLLERS + optional:
        home = os.path.normpath(f"{root}/{c}/{own.get(c, '/').lstrip('/')}")
        base = f"{home}/{_BASE}"
        with contextlib.suppress(FileExistsError):
            make_cgroup(base)
        _check_writable(base)
        if c == "cpuset":  # a new cpuset has no CPUs and no memory nodes until given them
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not _read(f"{base}/{name}").strip():
                    _write(f"{base}/{name}", _read(f"{home}/{name}").strip())
            host_cpus = parse_cpu_list(_read(f"{base}/cpuset.effective_cpus")) or host_cpus
        bases[c], homes[c] = base, home
    memsw = os.path.exists(f"{bases['memory']}/memory.memsw.limit_in_bytes")
    enforcement = Enforcement(V1, host_cpus, bases, homes, memsw)
    with contextlib.suppress(OSError):
        enforcement.root_balances = _read(f"{root}/cpuset/cpuset.sched_load_balance").strip() == "1"
    return enforcement


def _prepare_v2(root: str, own: str, host_cpus: list[int]) -> Enforcement:
    home = os.path.normpath(f"{root}/{own.lstrip('/')}")
    offered = set(_read(f"{home}/cgroup.controllers").split())
    missing = [c for c in V2_CONTROLLERS if c not in offered]
    if missing:
        raise OSError(f"controllers {', '.join(missing)} not delegated to {home}")
    enable = " ".join(f"+{c}" for c in V2_CONTROLLERS)
    leaf = home
    if os.path.basename(home) != _V2_NODED:
        # No process may sit in a cgroup whose children have controllers: noded moves
        # into a leaf of its own first (its launcher, started later, follows it).
        leaf = f"{home}/{_V2_NODED}"
        with contextlib.suppress(FileExistsError):
            make_cgroup(leaf)
        _write(f"{leaf}/cgroup.procs", str(os.getpid()))
    parent = os.path.dirname(leaf)
    _write(f"{parent}/cgroup.subtree_control", enable)
    base = f"{parent}/{_BASE}"
    with contextlib.suppress(FileExistsError):
        make_cgroup(base)
    _check_writable(base)
    _write(f"{base}/cgroup.subtree_control", enable)
    host_cpus = parse_cpu_list(_read(f"{base}/cpuset.cpus.effective")) or host_cpus
    return Enforcement(V2, host_cpus, {"unified": base}, {"unified": leaf}, memsw=False)


def _check_writable(base: str) -> None:
    """Job cgroups are made in `base`: one made by another user (root's noded before) may
    be there already, yet closed to this one."""
    if not os.access(base, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), base)


def parse_cpu_list(text: str) -> list[int]:
    """ "0-2,5" -> [0, 1, 2, 5] (the kernel's cpu list format)."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if part:
            first, _, last = part.partition("-")
            cpus.extend(range(int(first), int(last or first) + 1))
    return cpus


def cpu_list(cpus: list[int]) -> str:
    return ",".join(map(str, cpus))


# --- carrying it out, in the supervisor ---------------------------------------------------

class JobConfinement:
    """One job's confinement, made before it starts and undone after it ends."""

    def __init__(self, limits: dict[str, Any], name: str) -> None:
        """`name`: the job's cgroups' (`job_cgroup_name`), whoever made or makes them."""
        self.kind: str = limits["kind"]
        self.limits = limits
        # A devices cgroup only for a job with something to deny: a mkdir less for most jobs.
        self.dirs = {c: f"{base}/{name}" for c, base in limits["bases"].items()
                     if c != V1_DEVICES or limits.get("devices_denied")}
        self.made: list[str] = []
        self.own_cpus: set[int] | None = None   # affinity: the supervisor's own, to go back to

    @classmethod
    def left_by(cls, enforcement: Enforcement, job_id: int, attempt: int, name: str) -> JobConfinement | None:
        """The cgroups `name` a supervisor that is gone made for a job attempt, whatever
        limits it had (None without cgroups): what the job left running to kill, and remove."""
        if enforcement.kind == AFFINITY:
            return None
        limits = {**enforcement.job_limits(job_id, attempt, [], 0), "devices_denied": True}
        return cls.made_by(limits, name)

    @classmethod
    def made_by(cls, limits: dict[str, Any], name: str) -> JobConfinement:
        """The confinement made with these limits in cgroups `name` (to kill what is left in it and remove it)."""
        confinement = cls(limits, name)
        confinement.made = [d for d in confinement.dirs.values() if os.path.isdir(d)]
        return confinement

    def prepare(self) -> None:
        """Make the cgroup and set its limits (cgroups), or set our own affinity (the job inherits it)."""
        cpus, mem = self.limits["cpus"], self.limits["mem_bytes"]
        if self.kind == AFFINITY:
            if cpus:
                self.own_cpus = os.sched_getaffinity(0)
                os.sched_setaffinity(0, cpus)
            return
        for d in self.dirs.values():
            make_cgroup(d)
            self.made.append(d)
        if self.kind == V1:
            cpuset, memory = self.dirs["cpuset"], self.dirs["memory"]
            if self.limits.get("root_balances"):
                # A load-balanced cpuset's CPUs (set, or emptied at rmdir) make the kernel
                # rebuild its scheduling domains, walking every cpuset under its locks:
                # milliseconds a job on a busy node. Under a balancing root it changes nothing.
                _write(f"{cpuset}/cpuset.sched_load_balance", "0")
            _write(f"{cpuset}/cpuset.cpus", cpu_list(cpus) if cpus else _read(f"{os.path.dirname(cpuset)}/cpuset.cpus"))
            _write(f"{cpuset}/cpuset.mems", _read(f"{os.path.dirname(cpuset)}/cpuset.mems"))
            if mem:
                _write(f"{memory}/memory.limit_in_bytes", str(mem))
                if self.limits["memsw"]:
                    _write(f"{memory}/memory.memsw.limit_in_bytes", str(mem))
            # A new devices cgroup inherits its parent's list (on a usual host: everything
            # allowed); each rule makes one device an exception, one line per write.
            for rule in self.limits.get("devices_denied", []) if V1_DEVICES in self.dirs else []:
                _write(f"{self.dirs[V1_DEVICES]}/devices.deny", rule)
        else:
            d = self.dirs["unified"]
            if cpus:
                _write(f"{d}/cpuset.cpus", cpu_list(cpus))
            if mem:
                _write(f"{d}/memory.max", str(mem))
                _write(f"{d}/memory.swap.max", "0")

    def shell_limits(self) -> str:
        """Shell commands the job's trampoline runs before exec (the fallback's memory limit)."""
        mem = self.limits["mem_bytes"]
        if self.kind == AFFINITY and mem:
            return f"ulimit -d {max(1, mem >> 10)}; "
        return ""

    def enter(self) -> None:
        """Put the calling process (the supervisor, just before it starts the job) in the job's cgroup."""
        self._move(self.dirs)

    def leave(self) -> None:
        """Back to where the supervisor was (its next job may be given other CPUs): the
        job, started meanwhile, stays in."""
        if self.own_cpus is not None:
            os.sched_setaffinity(0, self.own_cpus)
        self._move(self.limits["homes"])

    def _move(self, dirs: dict[str, str]) -> None:
        if self.kind != AFFINITY:
            pid = str(os.getpid())
            for c in self.dirs:
                _write(f"{dirs[c]}/cgroup.procs", pid)

    def processes(self) -> list[int]:
        """Every process of the job still alive (cgroups only, with tracking on; [] otherwise)."""
        if self.kind == AFFINITY or not self.made or not self.limits.get("track", True):
            return []
        d = self.dirs["memory" if self.kind == V1 else "unified"]
        try:
            return [int(p) for p in _read(f"{d}/cgroup.procs").split()]
        except OSError:
            return []

    def kill_all(self) -> None:
        if self.kind == V2 and self.made and self.limits.get("track", True):
            with contextlib.suppress(OSError):   # cgroup.kill: Linux 5.14 and later
                _write(f"{self.dirs['unified']}/cgroup.kill", "1")
                return
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def oom_kills(self) -> int:
        """How many processes of the job the kernel killed for want of memory."""
        if not self.made:
            return 0
        if self.kind == V1:
            text, key = _read(f"{self.dirs['memory']}/memory.oom_control"), "oom_kill"
        else:
            text, key = _read(f"{self.dirs['unified']}/memory.events"), "oom_kill"
        return _keyed(text).get(key, 0)

    def usage(self) -> dict[str, float] | None:
        """user and system CPU seconds and peak memory (KiB) of every process the job had; None without a cgroup."""
        return measure(self.kind, self.dirs) if self.made else None

    def remove(self) -> None:
        """Remove the job's cgroups once empty (the kernel may take a moment to see the last exit)."""
        for d in reversed(self.made):
            for _ in range(100):
                try:
                    remove_cgroup(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    os.sched_yield()
        self.made.clear()


async def clear_out(confinement: JobConfinement) -> None:
    """In noded: kill what is left in a confinement whose owner is gone (a step's helper,
    a lost supervisor), wait until it is empty, remove it."""
    import asyncio  # noded's, not the supervisor's: a supervisor never runs this
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while confinement.processes() and loop.time() < deadline:
        confinement.kill_all()
        await asyncio.sleep(0.01)
    confinement.remove()


def job_cgroups(bases: dict[str, str], name: str) -> dict[str, str]:
    """controller -> the job cgroup `name` in it (`job_cgroup_name`)."""
    return {c: f"{base}/{name}" for c, base in bases.items()}


def job_name(job_id: int, attempt: int) -> str:
    """What the names of a job attempt's cgroups start with (a plan's limits carry it)."""
    return f"job_{job_id}.{attempt}"


def job_cgroup_name(job: str, pid: int, start_ticks: int | None) -> str:
    """The name of the cgroups of job attempt `job` (`job_name`) that process `pid`, which
    started `start_ticks` clock ticks after boot, makes: no other process on the host can
    make it while the host is up. None: the name an earlier hpcq gave them (pid alone)."""
    return f"{job}.{pid}" if start_ticks is None else f"{job}.{pid}.{start_ticks}"


def cgroup_owner(name: str) -> tuple[int, int | None] | None:
    """The maker of job cgroup `name`: its pid and start ticks (None in an earlier hpcq's
    name); None if `name` is not a job cgroup's."""
    if not name.startswith("job_"):
        return None
    parts = name[4:].split(".")
    if len(parts) not in (3, 4) or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    return int(parts[2]), int(parts[3]) if len(parts) == 4 else None


def recorded_cgroup(job_id: int, attempt: int, record: dict[str, Any]) -> str:
    """The name of the cgroups the supervisor of a job attempt made, from its
    supervisor.json: the name it recorded ("" for none: the job was not confined, or no
    supervisor ever ran it). A supervisor of an earlier hpcq recorded none; its cgroups are
    named for its pid alone, and a noded upgraded in place must still find them."""
    pid = record.get("pid", 0)
    if not isinstance(pid, int) or pid <= 0:
        return ""
    name = record.get("cgroup")
    job = job_name(job_id, attempt)
    if name is None:
        return job_cgroup_name(job, pid, None)
    # Only a job cgroup's name of this attempt: noded kills what runs in the cgroup it names.
    return name if isinstance(name, str) and name.startswith(f"{job}.") and cgroup_owner(name) else ""


def owner_gone(name: str, start_ticks: Callable[[int], int | None]) -> bool:
    """Whether the maker of job cgroup `name` is gone for good, `start_ticks(pid)` telling
    when the process `pid` now alive started (None: there is none): its pid runs no more,
    or runs another process. False for any other name, and for an earlier hpcq's name
    whose pid is alive (a supervisor's maybe, making it just now)."""
    owner = cgroup_owner(name)
    if owner is None:
        return False
    pid, ticks = owner
    now = start_ticks(pid)
    return now is None or (ticks is not None and now != ticks)


def sweep(bases: dict[str, str], start_ticks: Callable[[int], int | None]) -> int:
    """Remove the job cgroups under `bases` that no process is in and whose maker is gone
    (`owner_gone`): left by supervisors killed before they could remove them, of this noded
    or another on the host. Returns how many were removed. Other nodeds may sweep the same
    parents at the same time, and supervisors make cgroups there meanwhile: one gone
    before we remove it was swept by another, and one that has a process by then is
    refused by the kernel (EBUSY); both are left."""
    removed = 0
    for base in bases.values():
        try:
            names = [entry.name for entry in os.scandir(base) if entry.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        for name in names:
            if not owner_gone(name, start_ticks):
                continue
            path = f"{base}/{name}"
            try:
                if _read(f"{path}/cgroup.procs").strip():
                    continue   # not ours to kill: only the noded whose job runs there knows it
                remove_cgroup(path)
            except OSError:
                continue
            removed += 1
    return removed


def measure(kind: str, dirs: dict[str, str]) -> dict[str, float] | None:
    """What the processes of a job cgroup used: user and system CPU seconds, peak and
    present memory in KiB (rss_kb: anonymous memory, without page cache); None if unreadable."""
    try:
        if kind == V1:
            acct, memory = dirs["cpuacct"], dirs["memory"]
            user = int(_read(f"{acct}/cpuacct.usage_user")) / 1e9
            system = int(_read(f"{acct}/cpuacct.usage_sys")) / 1e9
            peak = int(_read(f"{memory}/memory.max_usage_in_bytes"))
            rss = _keyed(_read_if_there(f"{memory}/memory.stat")).get("total_rss", 0)
        elif kind == V2:
            d = dirs["unified"]
            stat = _keyed(_read(f"{d}/cpu.stat"))
            user, system = stat.get("user_usec", 0) / 1e6, stat.get("system_usec", 0) / 1e6
            peak = int(_read(f"{d}/memory.peak")) if os.path.exists(f"{d}/memory.peak") else 0
            rss = _keyed(_read_if_there(f"{d}/memory.stat")).get("anon", 0)
        else:
            return None
    except (OSError, ValueError, KeyError):
        return None
    return {"user": user, "system": system, "max_rss_kb": peak >> 10, "rss_kb": rss >> 10}


def _keyed(text: str) -> dict[str, int]:
    """ "key value" lines (memory.events, cpu.stat, memory.oom_control) as a dict."""
    values = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            values[key] = int(value)
    return values


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _read_if_there(path: str) -> str:
    try:
        return _read(path)
    except FileNotFoundError:
        return ""


def make_cgroup(path: str) -> None:
    """mkdir, which in a cgroupfs also makes the new cgroup's files (tests put a fake in its place)."""
    os.mkdir(path, 0o755)


def remove_cgroup(path: str) -> None:
    """rmdir, which in a cgroupfs removes the cgroup's files with it, and fails (EBUSY) while
    a process is in it (tests put a fake in its place)."""
    os.rmdir(path)


def _write(path: str, text: str) -> None:
    """Write an existing file (a cgroup's): never create one."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
