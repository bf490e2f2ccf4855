"""What a running job has used so far, for the usage noded sends with its heartbeats (sstat).

A confined job is measured from its cgroup (hpcq.noded.enforce.measure). Without one (the
affinity+rlimits fallback, or confinement off) it is measured from /proc: every process
descended from its supervisor, their CPU time and that of the children they reaped, and
their resident memory now; its peak is the largest sum seen at a heartbeat, so a spike
between two heartbeats is missed.
"""
from __future__ import annotations

import os

from hpcq.noded import enforce

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") >> 10


class Sampler:
    """Measures the running jobs at one heartbeat: /proc is read once for all of them."""

    def __init__(self, enforcement: enforce.Enforcement | None, proc: str = "/proc") -> None:
        self.enforcement = enforcement
        self.proc = proc
        self._table: dict[int, list[str]] | None = None

    def measure(self, supervisor_pid: int, cgroup: str,
                reaped_before: tuple[float, float] = (0.0, 0.0)) -> dict[str, float] | None:
        """user and system CPU seconds, rss_kb now and max_rss_kb of a running job, whose
        cgroups are named `cgroup` (enforce.job_cgroup_name; "" if it has none); None if
        unreadable. `reaped_before`: the CPU of the children its supervisor had reaped before
        the job started (a supervisor runs job after job)."""
        e = self.enforcement
        if e is not None and e.kind != enforce.AFFINITY:
            return enforce.measure(e.kind, enforce.job_cgroups(e.bases, cgroup)) if cgroup else None
        if self._table is None:
            self._table = process_table(self.proc)
        return descendants_usage(supervisor_pid, self._table, reaped_before)


def process_table(proc: str = "/proc") -> dict[int, list[str]]:
    """pid -> its /proc/PID/stat fields (see _stat), for every process now."""
    table = {}
    for name in os.listdir(proc):
        if name.isdigit():
            fields = _stat(f"{proc}/{name}/stat")
            if fields is not None:
                table[int(name)] = fields
    return table


def descendants_usage(root_pid: int, table: dict[int, list[str]],
                      reaped_before: tuple[float, float] = (0.0, 0.0)) -> dict[str, float] | None:
    """The processes below `root_pid` (not itself): CPU of them and of the children they
    reaped, plus what `root_pid` reaped of them since it had reaped `reaped_before` (user,
    system); memory resident now."""
    if root_pid not in table:
        return None
    children: dict[int, list[int]] = {}
    for pid, fields in table.items():
        children.setdefault(int(fields[1]), []).append(pid)
    # The root's own time is the supervisor's, not the job's; what it reaped is the job's.
    user = int(table[root_pid][13]) / _TICKS - reaped_before[0]
    system = int(table[root_pid][14]) / _TICKS - reaped_before[1]
    rss_kb = 0
    todo = list(children.get(root_pid, ()))
    while todo:
        pid = todo.pop()
        fields = table[pid]
        user += (int(fields[11]) + int(fields[13])) / _TICKS
        system += (int(fields[12]) + int(fields[14])) / _TICKS
        rss_kb += int(fields[21]) * _PAGE_KB
        todo.extend(children.get(pid, ()))
    return {"user": user, "system": system, "rss_kb": rss_kb, "max_rss_kb": rss_kb}


def _stat(path: str) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (which may hold spaces and parentheses):
    [0] is the state, [1] the parent pid, [11..14] utime stime cutime cstime, [21] rss pages."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:   # the process has just ended
        return None
    return text[text.rindex(")") + 2:].split()
