"""scontrol: ``show job|node|partition|config|hostnames|hostlist`` (a job ``N``, an array
``N`` and its tasks, one task ``N_i``), ``hold``, ``uhold``, ``release``, ``requeue``,
``requeuehold``, ``suspend``, ``resume`` (jobs ``N``, tasks ``N_i`` and ``N_[1-3]``),
``update JobId=N|N_i Key=Value...``."""
from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence

from hpcq import hostlist, slurmconf, units
from hpcq.api.lite import jobs_pb2
from hpcq.errors import HpcqError
from hpcq.shims import arrays, clock, errors, getopt, jobrefs, output, values, versions
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
     requeue <job_list>       put running or finished jobs back in the queue
     requeuehold <job_list>   requeue the jobs, held
     suspend <job_list>       stop running jobs where they are (operators)
     resume <job_list>        let suspended jobs run on (operators)
     show <ENTITY> [<ID>]     ENTITY: job, node, partition, config, hostnames, hostlist
     update JobId=<id> <SPECIFICATIONS>
                              JobName TimeLimit NumNodes NumTasks NumCPUs CPUsPerTask
                              MinMemoryNode MinMemoryCPU Nice Priority Partition Account
                              Comment Requeue StartTime Dependency Features ExcNodeList
                              QOS WCKey
    A <job_list> names jobs N, array tasks N_i or N_[1-3,7], by spaces or commas."""
TABLE = OptionTable(
    short="dhoQvV",
    long={"details": ("", "d"), "help": ("", "h"), "oneline": ("", "o"), "quiet": ("", "Q"),
          "verbose": ("", "v"), "version": ("", "V"), "usage": ("", "h")})

_ENTITIES = {"job": "job", "jobs": "job", "jobid": "job", "node": "node", "nodes": "node",
             "partition": "partition", "partitions": "partition", "config": "config",
             "configuration": "config", "hostnames": "hostnames", "hostname": "hostnames",
             "hostlist": "hostlist", "hostlistsorted": "hostlist"}
# show's entities as scontrol matches them: a prefix at least this long (scontrol.c _show_it).
_ENTITY_PREFIXES = (("hostlistsorted", 9, "hostlist"), ("hostnames", 5, "hostnames"), ("hostlist", 5, "hostlist"),
                    ("jobid", 4, "job"), ("jobs", 1, "job"), ("nodes", 1, "node"), ("partitions", 2, "partition"),
                    ("configuration", 1, "config"))
R = jobs_pb2.JobActionResult
# The verbs that act on a list of jobs and array tasks, by the client call each makes.
_ACTIONS = ("hold", "uhold", "release", "requeue", "requeuehold", "suspend", "resume")
# Their refusals end with a line of Slurm's own (slurm_perror after slurm_update_job2).
_SUSPEND_ERROR_VERBS = ("hold", "uhold", "release")


class Command(Record):
    verb: str               # show, update, help, version, or one of _ACTIONS
    entity: str = ""
    name: str = ""
    refs: list[jobrefs.JobRef] = []
    updates: list[tuple[str, str]] = []
    one_line: bool = False
    details: bool = False
    quiet: bool = False


def parse_job_list(words: Sequence[str], verb: str = "update") -> list[jobrefs.JobRef]:
    """``11268``, ``11268,11269``, array tasks ``11268_3`` and ``11268_[1-3,7]``, several
    words; Slurm's words for anything else."""
    refs: list[jobrefs.JobRef] = []
    for item in _items(words):
        try:
            refs += jobrefs.parse_slurm(item, ranges=True)
        except jobrefs.JobRefError:
            tail = "\nslurm_suspend error: Invalid job id specified" if verb in _SUSPEND_ERROR_VERBS else ""
            raise ShimError(f"Invalid job id specified for job {item}{tail}", 1) from None
    if not refs:
        raise ShimError(f"{PROG}: error: No job identification provided", 1)
    return refs


def _items(words: Sequence[str]) -> list[str]:
    """A job list's items, split on commas outside the brackets of ``N_[1,3]``."""
    items: list[str] = []
    for word in words:
        depth, start = 0, 0
        for n, char in enumerate(word):
            depth += (char == "[") - (char == "]")
            if char == "," and depth == 0:
                items.append(word[start:n])
                start = n + 1
        items.append(word[start:])
    return [item for item in items if item]


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
    if len(verb) >= 3 and "show".startswith(verb):         # scontrol takes "sho"
        if not rest:
            raise ShimError("too few arguments for keyword:show", 1)
        # ENTITY ID or ENTITY=ID
        tag, eq, name = rest[0].partition("=")
        entity = _show_entity(tag)
        if entity is None:
            raise ShimError(f"invalid entity:{rest[0]} for keyword:show ", 1)
        return Command("show", entity, name if eq else (rest[1] if len(rest) > 1 else ""), **flags)
    if verb in _ACTIONS:
        return Command(verb, refs=parse_job_list(rest, verb), **flags)
    if verb == "update":
        return Command("update", updates=[_key_value(word) for word in rest], **flags)
    raise ShimError(f"invalid keyword: {words[0]}", 1)


def _show_entity(tag: str) -> str | None:
    word = tag.lower()
    if word in _ENTITIES:
        return _ENTITIES[word]
    for name, shortest, entity in _ENTITY_PREFIXES:
        if len(word) >= shortest and name.startswith(word):
            return entity
    return None


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


_UNSUPPORTED_KEYS = {"arraytaskthrottle": "ArrayTaskThrottle", "nodelist": "NodeList", "reqnodelist": "ReqNodeList"}
# The attributes an update changes in the job's map: the dependency text ctld reads
# (as sbatch --dependency leaves it), QOS and WCKey kept for display.
_ATTRIBUTE_KEYS = {"qos": "qos", "wckey": "wckey", "dependency": "dependency"}


def needs_record(updates: Sequence[tuple[str, str]]) -> bool:
    """Whether `build_update` needs the job's record for these keys."""
    return any(key.lower() in (*_ATTRIBUTE_KEYS, "numcpus") for key, _ in updates)


def build_update(updates: Sequence[tuple[str, str]], current: jobs_pb2.Job | None = None
                 ) -> tuple[list[jobrefs.JobRef], jobs_pb2.JobSpec, list[str]]:
    """(jobs and array tasks, spec, field paths) of ``update JobId=N Key=Value ...``.
    `current`, the job's record, is needed only to change one attribute (QOS, WCKey,
    Dependency) in the map."""
    ids: list[jobrefs.JobRef] = []
    spec = jobs_pb2.JobSpec()
    fields: list[str] = []
    attributes: dict[str, str] = {}
    r = spec.resources
    for key, value in updates:
        k = key.lower()
        if k in ("jobid", "job"):
            ids.extend(parse_job_list([value], "update"))
            continue
        if k in ("jobname", "name"):
            spec.name, path = value, "name"
        elif k == "timelimit":
            spec.walltime_seconds, path = _slurm_time(value), "walltime_seconds"
        elif k in ("numnodes", "minnodes", "reqnodes"):
            r.nodes, path = _count(key, value.partition("-")[0]), "resources.nodes"
        elif k in ("numtasks", "reqtasks"):
            r.tasks, path = _count(key, value), "resources.tasks"
        elif k == "numcpus":
            # The job's CPUs in all: shared among its tasks (CPUs/Task), as Slurm shows them.
            tasks = (current.spec.resources.tasks or 1) if current is not None else 1
            r.cpus_per_task = -(-_count(key, value.partition("-")[0]) // tasks)
            path = "resources.cpus_per_task"
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
        elif k in _ATTRIBUTE_KEYS:
            attributes[_ATTRIBUTE_KEYS[k]] = value
            if k == "dependency":
                # ctld reads the text again into the structured form, as at submit.
                fields.append("dependencies")
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
        if not spec.attributes.get("dependency", "x"):
            del spec.attributes["dependency"]        # Dependency= : no dependency any more
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


def refusal(ref: jobrefs.JobRef, words: str) -> str:
    """A refusal for one job as scontrol words it: ``<words> for job 5``, but ``5_7: <words>``
    for an array task."""
    return f"{ref.slurm()}: {words}" if ref.is_task else f"{words} for job {ref.slurm()}"


def update_failure(error: HpcqError, ref: jobrefs.JobRef) -> ShimError:
    """ctld's refusal of an update of one job or array task, as scontrol update prints it."""
    token, _ = errors.error_token(error)
    if error.code == "PERMISSION_DENIED":
        # Slurm 22.05: another user's job is "Invalid user id"; a privileged change of
        # one's own job (a negative Nice, a higher TimeLimit) "Access/permission denied".
        return ShimError(refusal(ref, "Access/permission denied" if token else _NOT_OWNER), 1)
    if token in _UPDATE_ERRORS:
        return ShimError(refusal(ref, _UPDATE_ERRORS[token]), 1)
    if error.code == "NOT_FOUND":
        return ShimError(refusal(ref, "Invalid job id specified"), 1)
    return errors.slurm_failure(PROG, error, "slurm_update error: ")


# -- hold, release, requeue, suspend, resume ---------------------------------------------------------

_ACTION_REFUSALS = {R.UNKNOWN_JOB: "Invalid job id specified", R.FINISHED: "Job is no longer pending execution",
                    R.INVALID_STATE: "Job is no longer pending execution", R.NOT_PERMITTED: "Access/permission denied"}
_NOT_OWNER = "Invalid user id"        # Slurm 22.05's word when a user acts on another's job via update
# Where a verb's words differ (Slurm 22.05: scontrol requeue of a pending job, resume of
# one that runs).
_VERB_REFUSALS = {
    "requeue": {R.INVALID_STATE: "Job is pending execution",
                R.FINISHED: "Job/step already completing or completed"},
    "suspend": {R.INVALID_STATE: "Job is pending execution",
                R.FINISHED: "Job/step already completing or completed"},
    "resume": {R.INVALID_STATE: "Job is not suspended", R.FINISHED: "Job/step already completing or completed"},
}
_VERB_REFUSALS["requeuehold"] = _VERB_REFUSALS["requeue"]


def action_report(verb: str, results: Sequence[jobs_pb2.JobActionResult],
                  refs: Sequence[jobrefs.JobRef] = ()) -> tuple[list[str], int]:
    """Error lines and exit code of a job list verb (scontrol_hold_unknown.txt): a line per
    refused job or task, in the order given; after the last refused job (not task) of
    hold/uhold/release, ``slurm_suspend error:`` with its words."""
    lines: list[str] = []
    last_job_line, last_words = -1, ""
    words_of = {**_ACTION_REFUSALS, **_VERB_REFUSALS.get(verb, {})}
    for ref, result in jobrefs.in_order(refs, results):
        if result.code == R.OK or (verb == "release" and result.code == R.INVALID_STATE):
            continue        # releasing a job that is not held is no error in Slurm
        words = words_of.get(result.code, result.message or "Unspecified error")
        if verb in _SUSPEND_ERROR_VERBS and result.code == R.NOT_PERMITTED and " belongs to " in result.message:
            words = _NOT_OWNER     # another user's job (ctld's words); not an operator's hold
        lines.append(refusal(ref, words))
        if not ref.is_task:
            last_job_line, last_words = len(lines), words
    if not lines:
        return [], 0
    if verb in _SUSPEND_ERROR_VERBS and last_job_line >= 0:
        lines.insert(last_job_line, f"slurm_suspend error: {last_words}")
    return lines, 1


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
    return fmt.config_text(client.server_info(), now)


MIN_JOB_AGE = slurmconf.MIN_JOB_AGE      # seconds a finished job stays in scontrol's view


def _in_view(job: jobs_pb2.Job, now: float) -> bool:
    return slurmconf.in_view(job.state, job.end_time, now)


def find_jobs(name: str, client: Client, now: float) -> list[jobs_pb2.Job]:
    """The records ``show job`` prints for ``N`` or an array task ``N_i``: an array's id
    names its own record and then its tasks' (newest first, as Slurm lists them); a task
    not started yet is the array's record with that task's index."""
    try:
        number, index, _ = jobrefs.parse_slurm(name)[0]
    except jobrefs.JobRefError:
        return []
    found, _ = client.get([number])
    if not found:
        return []
    job = found[0]
    if job.array_job_id != job.id:
        return [] if index is not None else [job]          # an ordinary job, or a task named by its own id
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


def _not_shown(name: str, client: Client) -> ShimError:
    """Why ``show job NAME`` shows nothing, as Slurm 22.05 says it: a task the job does not
    have is not found (said on stdout), a job it does not know an invalid id, and text that
    is no id is refused before any job is loaded."""
    try:
        ref = jobrefs.parse_slurm(name)[0]
    except jobrefs.JobRefError:
        return ShimError("scontrol_print_job error: Invalid job id specified", 1)
    if ref.is_task and client.get([ref.job_id])[0]:
        output.write(f"Job {name} not found")
        return ShimError("", 1)
    return ShimError("slurm_load_jobs error: Invalid job id specified", 1)


def show_jobs(cmd: Command, client: Client, now: float) -> str:
    if cmd.name:
        jobs = find_jobs(cmd.name, client, now)
        if not jobs:
            raise _not_shown(cmd.name, client)
    else:
        jobs = [j for j in client.list(include_finished=True, ended_after=now - MIN_JOB_AGE) if _in_view(j, now)]
        # By id, as slurmctld lists them; the pending rest of an array after its started tasks.
        last_task: dict[int, int] = {}
        for j in jobs:
            if j.array_job_id:
                last_task[j.array_job_id] = max(last_task.get(j.array_job_id, 0), j.id)
        jobs.sort(key=lambda j: (last_task.get(j.id, j.id), 1) if j.array_tasks_pending else (j.id, 0))
        if not jobs:
            return "No jobs in the system\n"
    return fmt.render([fmt.job_lines(j, now, details=cmd.details) for j in jobs], one_line=cmd.one_line)


# -- the command ------------------------------------------------------------------------------------

def _failure(error: HpcqError, verb: str) -> ShimError:
    lead = "slurm_load_jobs error: " if verb == "show" else \
        "slurm_suspend error: " if verb in _SUSPEND_ERROR_VERBS else f"{PROG}: error: "
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
    if cmd.verb == "update":
        return update(cmd.updates, conn.client)
    client = conn.client
    job_ids, tasks = jobrefs.split(cmd.refs)
    if cmd.verb == "release":
        results = client.release(job_ids, tasks=tasks)
    elif cmd.verb in ("requeue", "requeuehold"):
        results = client.requeue(job_ids, tasks=tasks, hold=cmd.verb == "requeuehold")
    elif cmd.verb in ("suspend", "resume"):
        try:
            results = (client.suspend if cmd.verb == "suspend" else client.resume)(job_ids, tasks=tasks)
        except HpcqError as e:
            if e.code != "PERMISSION_DENIED":
                raise
            # An operator's verb: Slurm 22.05 refuses each job, a task too, "for job N_i".
            denied = [f"Access/permission denied for job {ref.slurm()}" for ref in cmd.refs]
            return output.refusals([] if cmd.quiet else denied, 1)
    else:
        # As Slurm: an operator's hold is an admin hold (JobHeldAdmin), a user's a user hold.
        results = client.hold(job_ids, admin=cmd.verb == "hold" and os.geteuid() == 0, tasks=tasks)
    lines, code = action_report(cmd.verb, results, cmd.refs)
    return output.refusals([] if cmd.quiet else lines, code)


def update(updates: Sequence[tuple[str, str]], client: Client) -> int:
    """``update JobId=...``: each job or array task in turn, a refusal printed as scontrol
    prints it; exit 1 when any was refused."""
    refs, spec, fields = build_update(updates)
    code = 0
    for ref in refs:
        if needs_record(updates):
            current = find_jobs(ref.slurm(), client, clock.now())[:1]
            if not current:
                code = output.refusals([refusal(ref, "Invalid job id specified")], 1)
                continue
            _, spec, fields = build_update(updates, current[0])
        try:
            if ref.is_task:
                client.update(0, spec, fields, task=(ref.job_id, ref.task or 0))
            else:
                client.update(ref.job_id, spec, fields)
        except HpcqError as e:
            code = output.refusals([update_failure(e, ref).text], 1)
    return code


command = Shim.slurm(PROG, _run)       # each verb's failures in its own words: _run
main = command.main
