"""qalter: change queued PBS jobs and subjobs (``10[3]``) — ``-l`` resources, ``-N``, ``-A``,
``-p``, ``-r``, ``-m``, ``-M``, ``-o``, ``-e``, ``-j``, ``-a``, ``-P``, ``-S``, ``-k``, ``-c``,
``-u``, ``-W depend=``; through ``Client.update`` with the JobSpec fields each option changes.

A running job cannot be altered (hpcq has no operator override yet): PBS says
``Unauthorized Request`` to a user who tries, and so does this (qhold_qrls_qalter.txt).
"""
from __future__ import annotations

import sys
from collections.abc import Sequence

from hpcq import units
from hpcq.api.lite import jobs_pb2
from hpcq.errors import HpcqError
from hpcq.shims import arrays, errors, getopt, jobrefs, versions
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import OptionTable
from hpcq.shims.pbs import actions
from hpcq.shims.pbs import options as qsub
from hpcq.shims.record import Record
from hpcq.shims.shim import Shim
from hpcq.shims.submit_context import SubmitContext

PROG = "qalter"
USAGE = """\
usage: qalter [-a date_time] [-A account_string] [-c interval] [-e path]
\t[-h hold_list] [-j y|n] [-k keep] [-l resource_list] [-m mail_options]
\t[-M user_list] [-N jobname] [-o path] [-p priority] [-P project] [-r y|n] [-S path]
\t[-u user_list] [-W dependency_list] [-t date_time] job_identifier...
       qalter --version"""
TABLE = OptionTable(short="a:A:c:e:h:j:k:l:m:M:N:o:p:P:r:R:S:t:u:W:", long={"version": ("", "version")})
_NOT_YET = {"h": "-h (use qhold/qrls)", "t": "-t"}
# The JobSpec field each plain option sets (as qsub's handler for it does).
_FIELDS = {"A": "account", "p": "nice", "r": "requeue", "m": "mail_events", "M": "mail_users", "o": "stdout_path",
           "e": "stderr_path", "j": "join_output", "a": "begin_time", "S": "interpreter"}
_RESOURCE_FIELDS = ("resources.nodes", "resources.tasks_per_node", "resources.cpus_per_task",
                    "resources.mem_per_node_mb", "resources.gpus_per_node", "resources.features")


class Alteration(Record):
    """The options of one qalter, to apply to each job's current spec."""
    options: list[tuple[str, str]] = []
    refs: list[jobrefs.JobRef] = []
    version: bool = False


def parse(argv: Sequence[str]) -> Alteration:
    options, operands = getopt.command_line(PROG, argv, TABLE, then=USAGE, exit_code=2)
    if any(key == "version" for key, _ in options):
        return Alteration(version=True)
    for key, _ in options:
        if key in _NOT_YET:
            raise ShimError(f"qalter: {_NOT_YET[key]} is not supported by hpcq yet", 2)
    for key, value in options:
        name = (value or "").partition("=")[0].strip()
        if key == "W" and name != "depend":
            raise ShimError(f"qalter: -W {name or value} is not supported by hpcq yet", 2)
    if not options:
        raise ShimError(USAGE, 2)
    return Alteration([(k, v or "") for k, v in options], actions.parse_ids(PROG, operands, USAGE, ranges=False))


def _bad_value(name: str, ident: str) -> ShimError:
    return ShimError(f"qalter: Illegal attribute or resource value {name} {ident}",
                     errors.pbs_exit(errors.PBSE_BADATVAL))


def alter(job: jobs_pb2.Job, options: Sequence[tuple[str, str]], ctx: SubmitContext,
          cluster: str, ref: jobrefs.JobRef | None = None) -> tuple[jobs_pb2.JobSpec, list[str]]:
    """The spec to send and the field paths it changes, for this job (named as `ref`, by
    default by its id). Raises ShimError as qalter words a bad value for this job."""
    ident = (ref or jobrefs.JobRef(job.id)).pbs(cluster)
    spec = jobs_pb2.JobSpec()
    spec.CopyFrom(job.spec)
    fields: list[str] = []
    attrs = dict(spec.attributes)
    for key, value in options:
        try:
            fields += _apply(key, value, spec, attrs, ctx)
        except ShimError as e:
            first = e.text.splitlines()[0].removeprefix("qsub: ")
            if first.startswith("illegal -"):
                raise ShimError(f"qalter: {first}\n{USAGE}", 2) from None
            raise ShimError(f"qalter: {first} {ident}", e.exit_code) from None
    if attrs != dict(spec.attributes):
        spec.attributes.clear()
        spec.attributes.update(attrs)
        fields.append("attributes")
    return spec, list(dict.fromkeys(fields))


def _apply(key: str, value: str, spec: jobs_pb2.JobSpec, attrs: dict[str, str],
           ctx: SubmitContext) -> list[str]:
    """One option onto the spec (attributes kept apart); the field paths it changes."""
    # qsub's builder checks and spells each value; its spec is a scratch copy.
    builder = qsub.Builder(ctx)
    if key == "l":
        return _resources(value, spec, attrs, builder)
    qsub.Builder.handlers[key](builder, value)
    scratch = builder.spec
    if key == "N":
        spec.name = builder.name
        return ["name"]
    if key == "W":
        # ctld reads the new text into the structured form, as at submit (the old form goes).
        attrs["depend"] = scratch.attributes["depend"]
        del spec.dependencies[:]
        spec.dependency_any = False
        return ["dependencies"]
    if key in _FIELDS:
        field = _FIELDS[key]
        setattr(spec, field, getattr(scratch, field))
        if key == "j":
            attrs.pop("join", None)          # only -j eo leaves a mark in the attributes
        attrs.update(scratch.attributes)
        return [field]
    attrs.update(scratch.attributes)          # -P, -k, -c, -u, -R: kept for display
    return []


def _resources(value: str, spec: jobs_pb2.JobSpec, attrs: dict[str, str], builder: qsub.Builder) -> list[str]:
    builder.l(value)               # checks every item as qsub does
    changed: list[str] = []
    r = spec.resources
    for item in value.split(","):
        name, _, setting = item.partition("=")
        name = name.strip()
        if name == "walltime":
            spec.walltime_seconds = units.parse_pbs_time(setting)
            changed.append("walltime_seconds")
        elif name in ("select", "nodes", "ncpus"):
            if name == "select":
                chunks = qsub.parse_select(setting)
            elif name == "nodes":
                chunks = qsub.parse_nodes(setting)
            else:
                chunks = qsub.Chunks(cpus_per_task=qsub.positive("ncpus", setting))
            r.nodes, r.tasks_per_node, r.cpus_per_task = chunks.nodes, chunks.tasks_per_node, chunks.cpus_per_task
            if chunks.mem_mb:
                r.mem_per_node_mb = chunks.mem_mb
            r.gpus_per_node = chunks.gpus or r.gpus_per_node
            del r.features[:]
            r.features.extend(chunks.features)
            for kind in ("select", "nodes"):
                attrs.pop(kind, None)
            if name != "ncpus":
                attrs[name] = setting
            changed += _RESOURCE_FIELDS
        elif name == "mem":
            r.mem_per_node_mb = -(-qsub.size_mib("mem", setting) // (r.nodes or 1))
            r.mem_per_cpu_mb = 0
            changed += ["resources.mem_per_node_mb", "resources.mem_per_cpu_mb"]
        elif name == "ngpus":
            r.gpus_per_node = qsub.positive("ngpus", setting)
            changed.append("resources.gpus_per_node")
        elif name == "place":
            attrs["place"] = setting
            r.exclusive = "excl" in setting.split(":")
            changed.append("resources.exclusive")
        else:
            attrs[f"Resource_List.{name}"] = setting
    return changed


def failure(error: HpcqError, job: int | jobrefs.JobRef, cluster: str, prog: str = PROG) -> ShimError:
    """ctld's refusal of one job's update, in qalter's (or qmove's) words, with the job id."""
    ident = (job if isinstance(job, jobrefs.JobRef) else jobrefs.JobRef(job)).pbs(cluster)
    token, _ = errors.error_token(error)
    if error.code == "NOT_FOUND" or token == "UNKNOWN_JOB":
        return ShimError(f"{prog}: Unknown Job Id {ident}", errors.pbs_exit(errors.PBSE_UNKJOBID))
    if token == "NOT_QUEUED" and prog != PROG:
        return ShimError(f"{prog}: Request invalid for state of job {ident}", errors.pbs_exit(errors.PBSE_BADSTATE))
    if token == "NOT_QUEUED" or error.code == "PERMISSION_DENIED":
        return ShimError(f"{prog}: Unauthorized Request  {ident}", errors.pbs_exit(errors.PBSE_PERM))
    refused = errors.pbs_failure(prog, error, server=cluster)
    first, _, rest = refused.text.partition("\n")
    return ShimError(f"{first} {ident}" + (f"\n{rest}" if rest else ""), refused.exit_code)


def _alter(argv: list[str], conn: Connection) -> int:
    request = parse(argv)
    if versions.pbs_version(request.version):
        return 0
    ctx = SubmitContext.current()
    found = arrays.lookup(conn.client, request.refs)
    code = 0
    for ref in request.refs:
        try:
            job = found.get(ref)
            if job is None:
                raise ShimError(f"qalter: Unknown Job Id {ref.pbs(conn.cluster)}",
                                errors.pbs_exit(errors.PBSE_UNKJOBID))
            spec, fields = alter(job, request.options, ctx, conn.cluster, ref)
            if fields:
                update(conn, ref, spec, fields, PROG)
        except ShimError as e:
            print(e.text, file=sys.stderr)
            code = e.exit_code
    return code


def update(conn: Connection, ref: jobrefs.JobRef, spec: jobs_pb2.JobSpec, fields: list[str], prog: str) -> None:
    """One job's or subjob's update; ctld's refusal as `prog` words it."""
    try:
        if ref.task is None:
            conn.client.update(ref.job_id, spec, fields)
        else:
            conn.client.update(0, spec, fields, task=(ref.job_id, ref.task))
    except HpcqError as e:
        raise failure(e, ref, conn.cluster, prog) from None


command = Shim.pbs(PROG, _alter)
main = command.main
