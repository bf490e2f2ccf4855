"""sstat: what a running job has used so far — ``-j job[.batch]``, ``-o``/``--format``
with ``%width``, ``-n``, ``-p``/``-P``, ``-a``, ``-e``, ``--noconvert``.

The figures are those the job's node sent with its last heartbeat ([ctld]
heartbeat_interval): CPU time and memory of every process of the batch script (its srun
steps on that node included), from the job's cgroup or /proc. Field names, widths, the
default field list and the spelling of values follow Slurm 22.05's sstat (src/sstat/
sstat.c, options.c, print.c); fields hpcq does not measure print 0 where Slurm's
jobacct_gather/cgroup prints 0, else blank.
"""
from __future__ import annotations

import sys
from collections import namedtuple
from collections.abc import Callable, Sequence

from hpcq.api.lite import jobs_pb2
from hpcq.errors import HpcqError
from hpcq.shims import getopt, values, versions
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import OptionTable
from hpcq.shims.record import Record
from hpcq.shims.shim import Shim
from hpcq.shims.slurm.sacct_format import cell
from hpcq.shims.slurm.scontrol_format import duration

PROG = "sstat"
USAGE = "Usage: sstat [options] -j <job(.stepid)>\n\tUse --help for help\n"
HELP = """\
sstat [<OPTION>] -j <job(.stepid)>
    Valid <OPTION> values are:
      -a, --allsteps:
                   Print all steps for the given job(s) when no step is
                   specified.
      -e, --helpformat:
                   Print a list of fields that can be specified with the
                   '--format' option
     -h, --help:   Print this description of use.
     -j, --jobs:
                   Format is <job(.step)>. Stat this job step
                   or comma-separated list of job steps. This option is
                   required.  A step id of 'batch' will display the
                   information about the batch step (the only step hpcq
                   measures).
     -n, --noheader:
                   No header will be added to the beginning of output.
                   The default is to print a header.
     --noconvert:  Don't convert units from their original type
                   (e.g. 2048M won't be converted to 2G).
     -o, --format:
                   Comma separated list of fields. (use "--helpformat"
                   for a list of available fields).
     -p, --parsable: output will be '|' delimited with a '|' at the end
     -P, --parsable2: output will be '|' delimited without a '|' at the end
     --usage:      Display brief usage message.
     -V, --version: Print version.

"""
TABLE = OptionTable(
    short="aehij:no:pPvV",
    long={"allsteps": ("", "a"), "helpformat": ("", "e"), "help": ("", "h"), "jobs": (":", "j"),
          "noheader": ("", "n"), "fields": (":", "o"), "format": (":", "o"), "noconvert": ("", "noconvert"),
          "pidformat": ("", "i"), "parsable": ("", "p"), "parsable2": ("", "P"), "usage": ("", "usage"),
          "verbose": ("", "v"), "version": ("", "V")})

DEFAULT_FIELDS = (
    "jobid,maxvmsize,maxvmsizenode,maxvmsizetask,avevmsize,maxrss,maxrssnode,maxrsstask,averss,maxpages,"
    "maxpagesnode,maxpagestask,avepages,mincpu,mincpunode,mincputask,avecpu,ntasks,avecpufreq,reqcpufreqmin,"
    "reqcpufreqmax,reqcpufreqgov,consumedenergy,maxdiskread,maxdiskreadnode,maxdiskreadtask,avediskread,"
    "maxdiskwrite,maxdiskwritenode,maxdiskwritetask,avediskwrite,tresusageinave,tresusageinmax,tresusageinmaxn,"
    "tresusageinmaxt,tresusageinmin,tresusageinminn,tresusageinmint,tresusageintot,tresusageoutave,"
    "tresusageoutmax,tresusageoutmaxn,tresusageoutmaxt,tresusageoutmin,tresusageoutminn,tresusageoutmint,"
    "tresusageouttot")


class Step(namedtuple("Step", "job_id usage raw")):
    """One line: the job's batch step and what its node measured (`raw`: --noconvert)."""
    __slots__ = ()
    job_id: int
    usage: jobs_pb2.JobUsage
    raw: bool


def memory(kb: int, raw: bool) -> str:
    """A size in bytes as Slurm's convert_num_unit prints it with CONVERT_NUM_UNIT_EXACT:
    to a larger unit only while that loses nothing (half units kept), ``1164K``, ``200M``."""
    number, unit = float(kb << 10), 0
    if number == 0:
        return "0"
    while not raw and number >= 1024 and int(number) % 512 == 0:
        number, unit = number / 1024, unit + 1
    suffix = ("", "K", "M", "G", "T", "P")[min(unit, 5)]
    return f"{int(number)}{suffix}" if number == int(number) else f"{number:.2f}{suffix}"


def _zero(step: Step) -> str:
    return "0"


def _blank(step: Step) -> str:
    return ""


def _cpu(step: Step) -> str:
    return duration(step.usage.cpu_seconds)


def _node(step: Step) -> str:
    return step.usage.node


Value = Callable[[Step], str]
Field = namedtuple("Field", "name width value")

# sstat.c's fields[] (22.05): name, width; a batch step is one task on one node.
FIELDS: list[Field] = [Field(*f) for f in (
    ("AveCPU", 10, _cpu),
    ("AveCPUFreq", 10, _zero),
    ("AveDiskRead", 12, _zero),
    ("AveDiskWrite", 12, _zero),
    ("AvePages", 10, _zero),
    ("AveRSS", 10, lambda s: memory(s.usage.rss_kb, s.raw)),
    ("AveVMSize", 10, _zero),
    ("ConsumedEnergy", 14, _zero),
    ("ConsumedEnergyRaw", 17, _zero),
    ("JobID", -12, lambda s: f"{s.job_id}.batch"),
    ("MaxDiskRead", 12, _zero),
    ("MaxDiskReadNode", 15, _node),
    ("MaxDiskReadTask", 15, _zero),
    ("MaxDiskWrite", 12, _zero),
    ("MaxDiskWriteNode", 16, _node),
    ("MaxDiskWriteTask", 16, _zero),
    ("MaxPages", 8, _zero),
    ("MaxPagesNode", 12, _node),
    ("MaxPagesTask", 14, _zero),
    ("MaxRSS", 10, lambda s: memory(s.usage.max_rss_kb, s.raw)),
    ("MaxRSSNode", 10, _node),
    ("MaxRSSTask", 10, _zero),
    ("MaxVMSize", 10, _zero),
    ("MaxVMSizeNode", 14, _node),
    ("MaxVMSizeTask", 14, _zero),
    ("MinCPU", 10, _cpu),
    ("MinCPUNode", 10, _node),
    ("MinCPUTask", 10, _zero),
    ("Nodelist", 20, _node),
    ("NTasks", 8, lambda s: "1"),
    ("Pids", 20, _blank),
    ("ReqCPUFreq", 10, lambda s: "Unknown"),
    ("ReqCPUFreqMin", 13, lambda s: "Unknown"),
    ("ReqCPUFreqMax", 13, lambda s: "Unknown"),
    ("ReqCPUFreqGov", 13, lambda s: "Unknown"),
    *((name, width, _blank) for name, width in (
        ("TRESUsageInAve", 14), ("TRESUsageInMax", 14), ("TRESUsageInMaxNode", 18), ("TRESUsageInMaxTask", 18),
        ("TRESUsageInMin", 14), ("TRESUsageInMinNode", 18), ("TRESUsageInMinTask", 18), ("TRESUsageInTot", 14),
        ("TRESUsageOutAve", 15), ("TRESUsageOutMax", 15), ("TRESUsageOutMaxNode", 19),
        ("TRESUsageOutMaxTask", 19), ("TRESUsageOutMin", 15), ("TRESUsageOutMinNode", 19),
        ("TRESUsageOutMinTask", 19), ("TRESUsageOutTot", 15))),
)]


class Query(Record):
    job_ids: list[int] = []
    fields: str = ""
    header: bool = True
    parsable: str = ""
    raw: bool = False
    help: str = ""          # "help", "usage" or "fields"
    version: bool = False


def parse(argv: Sequence[str]) -> Query:
    options, operands = getopt.command_line(PROG, argv, TABLE, then=USAGE.rstrip("\n"), exit_code=1)
    q = Query()
    jobs: list[str] = []
    for key, value in options:
        value = value or ""
        if key == "h":
            q.help = "help"
        elif key == "usage":
            q.help = "usage"
        elif key == "e":
            q.help = "fields"
        elif key == "V":
            q.version = True
        elif key == "i":
            raise ShimError(f"{PROG}: error: -i/--pidformat is not supported by hpcq yet", 1)
        elif key == "j":
            jobs.append(value)
        elif key == "n":
            q.header = False
        elif key == "o":
            q.fields = f"{q.fields},{value}" if q.fields else value
        elif key in ("p", "P"):
            q.parsable = key
        elif key == "noconvert":
            q.raw = True
    jobs += operands[:1]      # as sstat: the first operand is a job list too
    for item in (i for text in jobs for i in values.split_list(text)):
        number, _, step = item.partition(".")
        job_id = values.parse_uint(number, values.UINT64_MAX)
        if step and step.lower() != "batch":
            raise ShimError(f"{PROG}: error: hpcq measures the batch step only, not {item}", 1)
        if job_id is None:
            raise ShimError(f"{PROG}: error: Invalid job id: {item}", 1)
        if job_id not in q.job_ids:
            q.job_ids.append(job_id)
    parse_fields(q.fields or DEFAULT_FIELDS)
    return q


def parse_fields(text: str) -> list[tuple[Field, int]]:
    """Each name (or a prefix of one, any case) with an optional ``%width``."""
    columns = []
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        name, _, width = item.partition("%")
        found = next((f for f in FIELDS if f.name.lower().startswith(name.lower())), None)
        if found is None:
            raise ShimError(f'{PROG}: error: Invalid field requested: "{name}"', 1)
        size = int(width) if width.lstrip("-").isdigit() else 0
        columns.append((found, max(-values.MAX_FIELD_WIDTH, min(size, values.MAX_FIELD_WIDTH)) or found.width))
    return columns


def render(steps: Sequence[Step], columns: Sequence[tuple[Field, int]], *, header: bool = True,
           parsable: str = "") -> str:
    lines = []
    table = [[f.value(step) for f, _ in columns] for step in steps]
    if parsable:
        end = "|" if parsable == "p" else ""
        rows = ([[f.name for f, _ in columns]] if header else []) + table
        lines = ["|".join(row) + end for row in rows]
    else:
        if header:
            lines.append("".join(cell(f.name, width, "") for f, width in columns))
            lines.append("".join("-" * abs(width) + " " for _, width in columns))
        lines += ["".join(cell(v, width) for v, (_, width) in zip(row, columns, strict=True)) for row in table]
    return "".join(line + "\n" for line in lines)


def help_fields() -> str:
    """-e: every field, four to a line, as sstat's _help_fields_msg prints them."""
    names = [f.name for f in FIELDS]
    return "".join(" ".join(f"{n:<17}" for n in names[i:i + 4]) + "\n" for i in range(0, len(names), 4))


def _stat(argv: list[str], conn: Connection) -> int:
    q = parse(argv)
    if q.help:
        sys.stdout.write({"help": HELP, "usage": USAGE, "fields": help_fields()}[q.help])
        return 0
    if versions.slurm_help_or_version(False, q.version, USAGE):
        return 0
    if not q.job_ids:
        raise ShimError(f"{PROG}: error: You didn't give me any jobs to stat.", 1)
    columns = parse_fields(q.fields or DEFAULT_FIELDS)
    if q.header:
        sys.stdout.write(render([], columns, parsable=q.parsable))
    for job_id in q.job_ids:
        # As sstat, a job that cannot be stat'ed is an error line; the others are still shown.
        try:
            reply = conn.client.usage(job_id)
        except HpcqError as e:
            if e.code not in ("NOT_FOUND", "PERMISSION_DENIED"):
                raise
            sys.stdout.flush()
            print(f"{PROG}: error: couldn't get steps for job {job_id}", file=sys.stderr)
            continue
        if not reply.running:
            sys.stdout.flush()
            print(f"{PROG}: error: no steps running for job {job_id}", file=sys.stderr)
            continue
        step = Step(job_id, reply.usage, q.raw)
        sys.stdout.write(render([step], columns, header=False, parsable=q.parsable))
    return 0


command = Shim.slurm(PROG, _stat)
main = command.main
