"""scontrol: ``show job|node|partition|config|hostnames|hostlist`` (a job ``N``, an array
``N`` and its tasks, one task ``N_i``), ``hold``, ``uhold``, ``release``, ``update JobId=N
Key=Value...``, ``requeue`` (refused: not supported yet)."""
from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence

from hpcq import hostlist, states, units
from hpcq.api.lite import jobs_pb2
from hpcq.errors import HpcqError
from hpcq.shims import arrays, clock, errors, getopt, output, values, versions
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import OptionTable
from hpcq.shims.record import Record
from hpcq.shims.shim import Shim
from hpcq.shims.slurm import scontrol_format as fmt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hpcq.client import Client

PROG = "scontrol"
USAGE = """\
scontrol [<OPTION>] [<COMMAND>]
    Valid <OPTION> values are:
     -d or --details: make show command print more details
     -h or --help: equivalent to "help" command
     -o or --oneline: equivalent to "oneliner" command
     -Q or --quiet: equivalent to "quiet" command
     -V or --version: equivalent to "version" command

    Valid <COMMAND> values supported by hpcq are:
     hold <job_list>          prevent the jobs from starting
     uhold <job_list>         hold the jobs, as their user
     release <job_list>       let held jobs start
     requeue <job_list>       (not supported by hpcq yet)
     show <ENTITY> [<ID>]     ENTITY: job, node, partition, config, hostnames, hostlist
     update JobId=<id> <SPECIFICATIONS>
                              JobName TimeLimit NumNodes NumTasks CPUsPerTask MinMemoryNode
                              MinMemoryCPU Nice Partition Account Comment Requeue StartTime
                              Features ExcNodeList QOS WCKey"""
TABLE = OptionTable(
    short="dhoQvV",
    long={"details": ("", "d"), "help": ("", "h"), "oneline": ("", "o"), "quiet": ("", "Q"),
          "verbose": ("", "v"), "version": ("", "V"), "usage": ("", "h")})

_ENTITIES = {"job": "job", "jobs": "job", "jobid": "job", "node": "node", "nodes": "node",
             "partition": "partition", "partitions": "partition", "config": "config",
             "configuration": "config", "hostnames": "hostnames", "hostname": "hostnames",
             "hostlist": "hostlist", "hostlistsorted": "hostlist"}
R = jobs_pb2.JobActionResult


class Command(Record):
    verb: str                                  # show, hold, uhold, release, requeue, update, help, version
    entity: str = ""
    name: str = ""
    job_ids: list[int] = []
    updates: list[tuple[str, str]] = []
    one_line: bool = False
    details: bool = False
    quiet: bool = False


def parse_job_list(words: Sequence[str]) -> list[int]:
    """``11268``, ``11268,11269``, several words; Slurm's words for anything else."""
    ids = []
    for item in (i for word in words for i in word.split(",") if i):
        number = values.parse_uint(item, values.UINT64_MAX)
        if number is None:
            raise ShimError(f"Invalid job id specified for job {item}", 1)
        ids.append(number)
    if not ids:
        raise ShimError(f"{PROG}: error: No job identification provided", 1)
    return ids


def parse(argv: Sequence[str]) -> Command:
    options, words = getopt.command_line(
        PROG, argv, TABLE, then="Try \"scontrol --help\" for more information", exit_code=1)
    keys = {key for key, _ in options}
    flags = dict(one_line="o" in keys, details="d" in keys, quiet="Q" in keys)
    if "h" in keys or (words and words[0].lower() in ("help", "usage")):
        return Command("help")
    if "V" in keys or (words and words[0].lower() == "version"):
        return Command("version")
    if words and words[0].lower() == "oneliner":
        flags["one_line"], words = True, words[1:]
    if not words:
        raise ShimError(f"{PROG}: error: no command given\n{USAGE}", 1)
    verb, rest = words[0].lower(), list(words[1:])
    if verb == "show":
        if not rest:
            raise ShimError(f"{PROG}: error: too few arguments for keyword:show", 1)
        entity = _ENTITIES.get(rest[0].lower())
        if entity is None:
            raise ShimError(f"{PROG}: error: invalid entity:{rest[0]} for keyword:show", 1)
        return Command("show", entity, rest[1] if len(rest) > 1 else "", **flags)
    if verb in ("hold", "uhold", "release", "requeue"):
        return Command(verb, job_ids=parse_job_list(rest), **flags)
    if verb == "update":
        return Command("update", updates=[_key_value(word) for word in rest], **flags)
    raise ShimError(f"{PROG}: error: Invalid keyword: {words[0]}", 1)


def _key_value(word: str) -> tuple[str, str]:
    key, eq, value = word.partition("=")
    if not eq:
        raise ShimError(f"{PROG}: error: Invalid input: {word}\nRequest aborted", 1)
    return key, value


# -- update: Slurm's keys -> JobSpec field paths ------------------------------------------------

def _slurm_time(value: str) -> int:
    try:
        return units.parse_slurm_time(value) or 0
    except ValueError:
        raise ShimError(f"Invalid TimeLimit value: {value}\nRequest aborted", 1) from None


def _count(key: str, value: str) -> int:
    number = values.parse_uint(value)
    if number is None:
        raise ShimError(f"Invalid {key} value: {value}\nRequest aborted", 1)
    return number


def _size(key: str, value: str) -> int:
    try:
        return units.parse_slurm_size(value)
    except ValueError:
        raise ShimError(f"Invalid {key} value: {value}\nRequest aborted", 1) from None


def _nice(value: str) -> int:
    """Slurm's range: +/-2147483645."""
    if not re.fullmatch(r"[-+]?[0-9]{1,10}", value) or abs(int(value)) > values.INT32_MAX - 2:
        raise ShimError(f"Invalid Nice value: {value}\nRequest aborted", 1)
    return int(value)


def _begin(value: str) -> float:
    try:
        return units.parse_slurm_timestamp(value, clock.now())
    except ValueError:
        raise ShimError(f"Invalid StartTime value: {value}\nRequest aborted", 1) from None


def _hosts(value: str) -> list[str]:
    try:
        return hostlist.expand(value)
    except ValueError as e:
        raise ShimError(f"Invalid ExcNodeList value: {e}\nRequest aborted", 1) from None


_UNSUPPORTED_KEYS = {"dependency": "Dependency", "arraytaskthrottle": "ArrayTaskThrottle",
                     "nodelist": "NodeList", "reqnodelist": "ReqNodeList"}


def build_update(updates: Sequence[tuple[str, str]], current: jobs_pb2.Job | None = None
                 ) -> tuple[list[int], jobs_pb2.JobSpec, list[str]]:
    """(job ids, spec, field paths) of ``update JobId=N Key=Value ...``. `current`, the
    job's record, is needed only to change one attribute (QOS, WCKey) in the map."""
    ids: list[int] = []
    spec = jobs_pb2.JobSpec()
    fields: list[str] = []
    attributes: dict[str, str] = {}
    r = spec.resources
    for key, value in updates:
        k = key.lower()
        if k in ("jobid", "job"):
            ids.extend(parse_job_list([value]))
            continue
        if k in ("jobname", "name"):
            spec.name, path = value, "name"
        elif k == "timelimit":
            spec.walltime_seconds, path = _slurm_time(value), "walltime_seconds"
        elif k in ("numnodes", "minnodes", "reqnodes"):
            r.nodes, path = _count(key, value.partition("-")[0]), "resources.nodes"
        elif k in ("numtasks", "reqtasks"):
            r.tasks, path = _count(key, value), "resources.tasks"
        elif k == "cpuspertask":
            r.cpus_per_task, path = _count(key, value), "resources.cpus_per_task"
        elif k in ("minmemorynode", "minmemory"):
            r.mem_per_node_mb, path = _size(key, value), "resources.mem_per_node_mb"
            fields.append("resources.mem_per_cpu_mb")
        elif k == "minmemorycpu":
            r.mem_per_cpu_mb, path = _size(key, value), "resources.mem_per_cpu_mb"
            fields.append("resources.mem_per_node_mb")
        elif k == "nice":
            spec.nice, path = _nice(value), "nice"
        elif k == "priority":
            priority = values.parse_uint(value, values.INT32_MAX)
            if priority is None:
                raise ShimError(f"Invalid Priority value: {value}\nRequest aborted", 1)
            spec.priority, path = priority, "priority"
        elif k == "partition":
            spec.queue, path = value, "queue"
        elif k == "account":
            spec.account, path = value, "account"
        elif k == "comment":
            spec.comment, path = value, "comment"
        elif k == "requeue":
            if value not in ("0", "1"):
                raise ShimError(f"Invalid Requeue value: {value}\nRequest aborted", 1)
            spec.requeue, path = value == "1", "requeue"
        elif k in ("starttime", "begintime"):
            spec.begin_time, path = _begin(value), "begin_time"
        elif k in ("features", "constraint"):
            r.features.extend(f for f in value.replace("&", ",").split(",") if f)
            path = "resources.features"
        elif k == "excnodelist":
            r.exclude_nodes.extend(_hosts(value))
            path = "resources.exclude_nodes"
        elif k in ("qos", "wckey"):
            attributes[k] = value
            continue
        elif k in _UNSUPPORTED_KEYS:
            raise ShimError(f"{PROG}: error: update of {_UNSUPPORTED_KEYS[k]} is not supported by hpcq yet", 1)
        else:
            raise ShimError(f"Update of this parameter is not supported: {key}={value}\nRequest aborted", 1)
        fields.append(path)
    if not ids:
        raise ShimError(f"{PROG}: error: No job identification provided\nRequest aborted", 1)
    if attributes:
        if current is not None:
            spec.attributes.update(current.spec.attributes)
        spec.attributes.update(attributes)
        fields.append("attributes")
    if not fields:
        raise ShimError(f"{PROG}: error: No changes specified\nRequest aborted", 1)
    return ids, spec, list(dict.fromkeys(fields))


_UPDATE_ERRORS = {
    "UNKNOWN_JOB": "Invalid job id specified", "NOT_QUEUED": "Job is no longer pending execution",
    "UNKNOWN_QUEUE": "Invalid partition name specified", "TOO_BIG": "Requested node configuration is not available",
    "TIME_LIMIT": "Requested time limit is invalid (missing or exceeds some limit)",
    "QUEUE_CLOSED": "Required partition not available (inactive or drain)",
    "QUEUE_ACCESS": "Access/permission denied", "BAD_DEPENDENCY": "Job dependency problem",
    "SUBMIT_LIMIT": "Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)",
}


def update_failure(error: HpcqError) -> ShimError:
    token, _ = errors.error_token(error)
    if error.code == "PERMISSION_DENIED":
        return ShimError("slurm_update error: Access/permission denied", 1)
    if token in _UPDATE_ERRORS:
        return ShimError(f"slurm_update error: {_UPDATE_ERRORS[token]}", 1)
    if error.code == "NOT_FOUND":
        return ShimError("slurm_update error: Invalid job id specified", 1)
    return errors.slurm_failure(PROG, error, "slurm_update error: ")


# -- hold and release ------------------------------------------------------------------------------

_ACTION_REFUSALS = {R.UNKNOWN_JOB: "Invalid job id specified", R.FINISHED: "Job is no longer pending execution",
                    R.INVALID_STATE: "Job is no longer pending execution", R.NOT_PERMITTED: "Access/permission denied"}


def action_report(verb: str, results: Sequence[jobs_pb2.JobActionResult]) -> tuple[list[str], int]:
    """Error lines and exit code of hold/release (scontrol_hold_unknown.txt): one line per
    refused job, then ``slurm_suspend error:`` with the last refusal's words."""
    lines, last = [], ""
    for result in results:
        if result.code == R.OK or (verb == "release" and result.code == R.INVALID_STATE):
            continue        # releasing a job that is not held is no error in Slurm
        last = _ACTION_REFUSALS.get(result.code, result.message or "Unspecified error")
        lines.append(f"{last} for job {result.job_id}")
    if not lines:
        return [], 0
    return lines + [f"slurm_suspend error: {last}"], 1


# -- show ---------------------------------------------------------------------------------------

def show(cmd: Command, conn: Connection, environ: Mapping[str, str]) -> str:
    client = conn.client if cmd.entity not in ("hostnames", "hostlist") else None
    now = clock.now()
    if cmd.entity == "hostnames":
        expression = cmd.name or environ.get("SLURM_JOB_NODELIST", "")
        try:
            names = hostlist.expand(expression)
        except ValueError as e:
            raise ShimError(f"{PROG}: error: {e}", 1) from None
        if not names:
            raise ShimError(f"{PROG}: error: host list is empty", 1)
        return "".join(f"{n}\n" for n in names)
    if cmd.entity == "hostlist":
        try:
            return hostlist.compress(hostlist.expand(cmd.name)) + "\n"
        except ValueError as e:
            raise ShimError(f"{PROG}: error: {e}", 1) from None
    assert client is not None
    if cmd.entity == "job":
        return show_jobs(cmd, client, now)
    if cmd.entity == "node":
        nodes = client.nodes([cmd.name] if cmd.name else [])
        if cmd.name and not nodes:
            raise ShimError(f"Node {cmd.name} not found", 1)
        queues = client.queues()
        return fmt.render([fmt.node_lines(n, queues) for n in nodes], one_line=cmd.one_line)
    if cmd.entity == "partition":
        queues = [q for q in client.queues() if not cmd.name or q.name == cmd.name]
        if cmd.name and not queues:
            raise ShimError(f"Partition {cmd.name} not found", 1)
        nodes = client.nodes()
        queues.sort(key=lambda q: (not q.is_default, q.name))
        return fmt.render([fmt.partition_lines(q, nodes) for q in queues], one_line=cmd.one_line)
    return fmt.config_text(client.server_info(), client.queues(), now)


MIN_JOB_AGE = 300      # seconds a finished job stays in scontrol's view, as Slurm's MinJobAge default


def _in_view(job: jobs_pb2.Job, now: float) -> bool:
    return not states.is_finished(job.state) or job.end_time >= now - MIN_JOB_AGE


def find_jobs(name: str, client: Client, now: float) -> list[jobs_pb2.Job]:
    """The records ``show job`` prints for ``N`` or an array task ``N_i``: an array's id
    names its own record and then its tasks' (newest first, as Slurm lists them); a task
    not started yet is the array's record with that task's index."""
    head, _, task = name.partition("_")
    number = values.parse_uint(head, values.UINT64_MAX)
    index = values.parse_uint(task, values.UINT32_MAX) if task else None
    if number is None or (task and index is None):
        return []
    found, _ = client.get([number])
    if not found:
        return []
    job = found[0]
    if job.array_job_id != job.id:
        return [] if task else [job]          # an ordinary job, or a task named by its own id
    if index is not None and job.HasField("array_task_id") and job.array_task_id == index:
        return [job]
    if index is not None and arrays.has_pending(job, index):
        return [arrays.pending_task(job, index)]
    members = sorted((j for j in client.list(include_finished=True)
                      if j.array_job_id == number and j.id != number and _in_view(j, now)),
                     key=lambda j: -j.id)
    if index is not None:
        return [j for j in members if j.array_task_id == index]
    return [job, *members]


def show_jobs(cmd: Command, client: Client, now: float) -> str:
    if cmd.name:
        jobs = find_jobs(cmd.name, client, now)
        if not jobs:
            raise ShimError("slurm_load_jobs error: Invalid job id specified", 1)
    else:
        jobs = sorted(client.list(include_finished=True, ended_after=now - MIN_JOB_AGE), key=lambda j: j.id)
        jobs = [j for j in jobs if _in_view(j, now)]
        if not jobs:
            return "No jobs in the system\n"
    return fmt.render([fmt.job_lines(j, now, details=cmd.details) for j in jobs], one_line=cmd.one_line)


# -- the command ------------------------------------------------------------------------------------

def _failure(error: HpcqError, verb: str) -> ShimError:
    if verb == "update":
        return update_failure(error)
    lead = {"show": "slurm_load_jobs error: ", "hold": "slurm_suspend error: ", "uhold": "slurm_suspend error: ",
            "release": "slurm_suspend error: "}.get(verb, f"{PROG}: error: ")
    return errors.slurm_failure(PROG, error, lead)


def _run(argv: list[str], conn: Connection) -> int:
    cmd = parse(argv)
    try:
        return _act(cmd, conn)
    except HpcqError as e:
        raise _failure(e, cmd.verb) from None


def _act(cmd: Command, conn: Connection) -> int:
    if versions.slurm_help_or_version(cmd.verb == "help", cmd.verb == "version", USAGE):
        return 0
    if cmd.verb == "show":
        sys.stdout.write(show(cmd, conn, os.environ))
        return 0
    if cmd.verb == "requeue":
        raise ShimError(f"{PROG}: error: requeue is not supported by hpcq yet", 1)
    if cmd.verb == "update":
        ids, spec, fields = build_update(cmd.updates)
        if "attributes" in fields:
            current, _ = conn.client.get(ids[:1])
            ids, spec, fields = build_update(cmd.updates, current[0] if current else None)
        for job_id in ids:
            conn.client.update(job_id, spec, fields)
        return 0
    client = conn.client
    if cmd.verb == "release":
        results = client.release(cmd.job_ids)
    else:
        # As Slurm: an operator's hold is an admin hold (JobHeldAdmin), a user's a user hold.
        results = client.hold(cmd.job_ids, admin=cmd.verb == "hold" and os.geteuid() == 0)
    lines, code = action_report(cmd.verb, results)
    return output.refusals([] if cmd.quiet else lines, code)


command = Shim.slurm(PROG, _run)       # each verb's failures in its own words: _run
main = command.main
