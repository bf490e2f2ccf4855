"""qstat's other outputs as pure functions: ``-F json`` and ``-F dsv`` of jobs, and the
queue (``-Q``, ``-Qf``) and server (``-B``, ``-Bf``) status, in every layout.

Spelled as OpenPBS 23.06 prints them (shared/compat/openpbs/qstat_f_json_*.txt,
qstat_f_dsv.txt): JSON indented with tabs, ``"key":<TAB>value``, dotted attributes
(``Resource_List.ncpus``) grouped in an object, Variable_List as an object of its
variables, numbers bare. Every job asked for is printed (the 23.06 build printed only
the first of several, openpbs issue 2672).
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from hpcq import states, units
from hpcq.api.lite import admin_pb2, jobs_pb2
from hpcq.shims.pbs import qstat_format as qf

Job = jobs_pb2.Job
Queue = admin_pb2.Queue

_NUMBER = re.compile(r"-?(0|[1-9][0-9]{0,17})(\.[0-9]+)?")


def json_value(text: str) -> str:
    """A value as PBS writes it in JSON: numbers bare, everything else a string."""
    if _NUMBER.fullmatch(text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    escaped = "".join(ch if ch >= " " else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'"{escaped}"'


class Raw(str):
    """A value written as it stands (a JSON list), not as a string."""


def json_object(items: Sequence[tuple[str, object]], depth: int) -> list[str]:
    """``"name":<TAB>value`` lines of one object at this depth; a value that is a list of
    pairs is a nested object, a Raw one is written as it is."""
    tabs = "\t" * depth
    lines = []
    for i, (name, value) in enumerate(items):
        comma = "," if i + 1 < len(items) else ""
        if isinstance(value, list):
            lines.append(f'{tabs}"{name}":\t{{')
            lines += json_object(value, depth + 1)
            lines.append(f"{tabs}}}{comma}")
        else:
            text = value if isinstance(value, Raw) else json_value(str(value))
            lines.append(f'{tabs}"{name}":\t{text}{comma}')
    return lines


def grouped(attributes: Sequence[tuple[str, str]], job: Job | None = None) -> list[tuple[str, object]]:
    """Attributes with dotted names gathered under their prefix, where the prefix first
    appears; a job's Variable_List as an object of its variables."""
    out: list[tuple[str, object]] = []
    groups: dict[str, list[tuple[str, object]]] = {}
    for name, value in attributes:
        if name == "Variable_List" and job is not None:
            out.append((name, list(qf.variables(job))))
            continue
        prefix, dot, rest = name.partition(".")
        if not dot:
            out.append((name, value))
            continue
        if prefix not in groups:
            groups[prefix] = []
            out.append((prefix, groups[prefix]))
        groups[prefix].append((rest, value))
    return out


def render_json(sections: Sequence[tuple[str, Sequence[tuple[str, object]]]], now: float, server: str,
                version: str, kind: str = "Jobs") -> str:
    """``qstat -f -F json``: the header, then each (id, attributes) under `kind` (Jobs,
    Queue, Server); no `kind` object at all when there is nothing to show."""
    lines = ["{", f'\t"timestamp":\t{int(now)},', f'\t"pbs_version":\t"{version}",',
             f'\t"pbs_server":\t"{server}"' + ("," if sections else "")]
    if sections:
        lines.append(f'\t"{kind}":\t{{')
        lines += json_object([(ident, list(items)) for ident, items in sections], 2)
        lines.append("\t}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def jobs_json(jobs: Sequence[Job], now: float, cluster: str, version: str) -> str:
    sections = [(qf.job_id(job, cluster), grouped(qf.full_attributes(job, now, cluster), job)) for job in jobs]
    return render_json(sections, now, cluster, version)


def jobs_dsv(jobs: Sequence[Job], now: float, cluster: str, delimiter: str = "|") -> str:
    """``qstat -f -F dsv``: one line per job, ``Job Id: <id>`` then name=value, all
    separated by the delimiter (a delimiter inside a value escaped with a backslash)."""
    lines = []
    for job in jobs:
        fields = [f"Job Id: {qf.job_id(job, cluster)}"]
        for name, value in qf.full_attributes(job, now, cluster):
            if name == "Variable_List":
                value = ",".join(f"{n}={v}" for n, v in qf.variables(job))
            fields.append(f"{name}={value.replace(delimiter, chr(92) + delimiter)}")
        lines.append(delimiter.join(fields))
    return "".join(line + "\n" for line in lines)


def full_text(kind: str, sections: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> str:
    """``qstat -Qf`` / ``-Bf``: ``Queue: workq`` then ``    name = value``, a blank line after each."""
    out = []
    for ident, items in sections:
        out.append(f"{kind}: {ident}\n")
        out += [qf.wrap_attribute(name, value) + "\n" for name, value in items]
        out.append("\n")
    return "".join(out)


def dsv_text(kind: str, sections: Sequence[tuple[str, Sequence[tuple[str, str]]]], delimiter: str = "|") -> str:
    return "".join(delimiter.join([f"{kind}: {ident}", *(f"{n}={v}" for n, v in items)]) + "\n"
                   for ident, items in sections)


# -- queues and the server -------------------------------------------------------------------

_COUNTED = (("Transit", ""), ("Queued", "Q"), ("Held", "H"), ("Waiting", "W"), ("Running", "R"),
            ("Exiting", "E"), ("Begun", "B"))


def counts(jobs: Sequence[Job]) -> dict[str, int]:
    """Live jobs by qstat state letter."""
    found: dict[str, int] = {}
    for job in jobs:
        if not states.is_finished(job.state):
            code = qf.state_code(job)
            found[code] = found.get(code, 0) + 1
    return found


def state_count(jobs: Sequence[Job]) -> str:
    found = counts(jobs)
    return "".join(f"{word}:{found.get(code, 0)} " for word, code in _COUNTED)


def assigned(jobs: Sequence[Job]) -> list[tuple[str, str]]:
    """resources_assigned: what the running jobs hold."""
    running = [j for j in jobs if j.state in states.ACTIVE]
    mem = sum(qf.total_mem_mb(j) for j in running)
    items = [("resources_assigned.mem", units.format_pbs_size(mem))] if mem else []
    return items + [("resources_assigned.ncpus", str(sum(qf.total_cpus(j) for j in running))),
                    ("resources_assigned.nodect", str(sum(qf.node_count(j) for j in running)))]


def queue_jobs(queue: Queue, jobs: Sequence[Job]) -> list[Job]:
    return [j for j in jobs if (j.queue or j.spec.queue) == queue.name]


def enabled(queue: Queue) -> bool:
    return queue.state in (Queue.UP, Queue.DOWN, Queue.STATE_UNSPECIFIED)


def started(queue: Queue) -> bool:
    return queue.state in (Queue.UP, Queue.DRAIN, Queue.STATE_UNSPECIFIED)


def queue_attributes(queue: Queue, jobs: Sequence[Job]) -> list[tuple[str, str]]:
    """What ``qstat -Qf`` shows of a queue (qstat_f_json_queue_server.txt)."""
    mine = [j for j in queue_jobs(queue, jobs) if not states.is_finished(j.state)]
    items = [("queue_type", "Execution")]
    if queue.priority:
        items.append(("Priority", str(queue.priority)))
    items += [("total_jobs", str(len(mine))), ("state_count", state_count(mine))]
    if queue.max_running_per_user:
        items.append(("max_run", f"[u:PBS_GENERIC={queue.max_running_per_user}]"))
    if queue.max_walltime_seconds:
        items.append(("resources_max.walltime", units.format_pbs_hms(queue.max_walltime_seconds)))
    if queue.default_walltime_seconds:
        items.append(("resources_default.walltime", units.format_pbs_hms(queue.default_walltime_seconds)))
    items += assigned(mine)
    if queue.allowed_users:
        items += [("acl_user_enable", "True"), ("acl_users", ",".join(queue.allowed_users))]
    if queue.allowed_groups:
        items += [("acl_group_enable", "True"), ("acl_groups", ",".join(queue.allowed_groups))]
    items += [("enabled", str(enabled(queue))), ("started", str(started(queue)))]
    return items


def queue_table(queues: Sequence[Queue], jobs: Sequence[Job]) -> str:
    """``qstat -Q``."""
    if not queues:
        return ""
    out = ["Queue              Max   Tot Ena Str   Que   Run   Hld   Wat   Trn   Ext Type\n",
           "---------------- ----- ----- --- --- ----- ----- ----- ----- ----- ----- ----\n"]
    for queue in queues:
        mine = queue_jobs(queue, jobs)
        c = counts(mine)
        total = sum(c.values())
        out.append(f"{queue.name[:16]:<16} {0:>5} {total:>5} {'yes' if enabled(queue) else 'no':>3} "
                   f"{'yes' if started(queue) else 'no':>3} {c.get('Q', 0):>5} {c.get('R', 0):>5} "
                   f"{c.get('H', 0):>5} {c.get('W', 0):>5} {0:>5} {c.get('E', 0):>5} Exec\n")
    return "".join(out)


def server_attributes(server: str, info: admin_pb2.ServerInfoResponse, jobs: Sequence[Job],
                      version: str) -> list[tuple[str, str]]:
    """What ``qstat -Bf`` shows of the server: the facts hpcq has."""
    return [("server_state", "Active"), ("server_host", server), ("scheduling", "True"),
            ("total_jobs", str(len(jobs))), ("state_count", state_count(jobs)),
            ("default_queue", info.default_queue), *assigned(jobs), ("pbs_version", version),
            ("job_history_enable", "True")]


def server_table(server: str, jobs: Sequence[Job]) -> str:
    """``qstat -B``."""
    c = counts(jobs)
    return ("Server             Max   Tot   Que   Run   Hld   Wat   Trn   Ext Status\n"
            "---------------- ----- ----- ----- ----- ----- ----- ----- ----- -----------\n"
            f"{server[:16]:<16} {0:>5} {len(jobs):>5} {c.get('Q', 0):>5} {c.get('R', 0):>5} {c.get('H', 0):>5} "
            f"{c.get('W', 0):>5} {0:>5} {c.get('E', 0):>5} Active\n")
