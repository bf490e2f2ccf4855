"""The cases: command lines generated from Slurm 22.05's documented surface (manpages.py and
``sacct --helpformat``), each run on both systems.

A case's command line may name scenario states (``{running}`` is the running job's id,
``{all}`` every state's). Families, in the order they run:

0. no job needed: help, usage, version, invalid options and values, hostlists;
1. listings in every state: every squeue ``-o`` letter and ``-O`` field and every sacct
   field, for each state's job, then with widths, right-justification, ``:`` suffixes and
   separators over all states; sinfo's letters and fields; every documented option of
   squeue, sinfo, sacct, scontrol with a sample value; the formats' environment variables;
2. listings of the timeout state, which Slurm reaches last, and of every job at once;
3. changes: sbatch with every documented option on the command line and as an #SBATCH
   directive, scontrol update, scancel filters (on jobs each case submits for itself).

A documented option the corpus has no sample value for is an error (`test_corpus.py`), so
that a new release's options cannot be skipped silently.
"""
from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

from tests.conformance import manpages
from tests.conformance.scenario import STATES

LATE_STATES = ("timeout",)
# The order of the families: no job needed, listings, listings once the timeout job has
# ended, then the cases that submit, change or cancel jobs.
STATIC, LISTINGS, LATE, CHANGES = 0, 1, 2, 3
LISTING_STATES = tuple(s for s in STATES if s not in LATE_STATES)


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    family: str                               # "squeue -O", "sacct --format", ...
    states: tuple[str, ...] = ()              # scenario states the case needs
    env: tuple[tuple[str, str], ...] = ()
    setup: tuple[tuple[str, ...], ...] = ()   # run first, output not compared ({new} = the last id)
    check: tuple[tuple[str, ...], ...] = ()   # run after, output compared too
    volatile: bool = False                    # numbers of a running job (normalize.py)
    script: str = ""                          # written to the file the command line ends with
    group: int = LISTINGS
    serial: bool = False                      # changes what later cases see: runs alone, in order
    stdin: str = ""                           # the command's input (an answer to a prompt)

    @property
    def command(self) -> str:
        return self.argv[0]

    @property
    def id(self) -> str:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env)
        words = " ".join(shlex.quote(a) for a in self.argv)
        more = "".join(f" && {' '.join(shlex.quote(a) for a in c)}" for c in self.check)
        directive = f" [#SBATCH {self.script.splitlines()[1][8:]}]" if self.script else ""
        return (f"{env} " if env else "") + words + directive + more


def _state_ids(states: tuple[str, ...]) -> str:
    return ",".join(f"{{{s}}}" for s in states)


ALL = _state_ids(LISTING_STATES)

# sacct fields whose values are raw seconds or live counters of a job (normalize.py: volatile).
VOLATILE_SACCT = {"ElapsedRaw", "CPUTimeRAW", "ResvCPURAW", "Reserved", "ResvCPU", "Elapsed", "CPUTime",
                  "TotalCPU", "UserCPU", "SystemCPU", "AveCPU", "MinCPU", "AveRSS", "MaxRSS", "AveVMSize",
                  "MaxVMSize", "AvePages", "MaxPages", "AveDiskRead", "AveDiskWrite", "MaxDiskRead",
                  "MaxDiskWrite", "TRESUsageInAve", "TRESUsageInMax", "TRESUsageInMin", "TRESUsageInTot",
                  "TRESUsageOutAve", "TRESUsageOutMax", "TRESUsageOutMin", "TRESUsageOutTot", "ConsumedEnergy",
                  "ConsumedEnergyRaw", "DBIndex", "AssocID", "Suspended"}
# sinfo fields of a node's momentary load and free memory.
VOLATILE_SINFO = {"%e", "%O", "%all", "FreeMem", "CPUsLoad", "All"}
VOLATILE_SQUEUE = {"PendingTime", "LastSchedEval", "AccrueTime", "TimeUsed", "TimeLeft", "EligibleTime",
                   "%M", "%L"}


# -- sample values for documented options ------------------------------------------------
# An option's value is what a user would type; an entry per documented option taking one.

SQUEUE_VALUES = {
    "--account": "root", "--clusters": "vm", "--format": "%.10i %T", "--Format": "JobID,State",
    "--iterate": None, "--jobs": "{running}", "--licenses": "foo", "--name": "cf-running",
    "--nodelist": "{host}", "--partition": "batch", "--qos": "normal", "--reservation": "none",
    "--sort": "-i", "--states": "all", "--user": "root",
}
SINFO_VALUES = {
    "--clusters": "vm", "--format": "%P %a %D", "--Format": "PartitionName,Available", "--iterate": None,
    "--nodes": "{host}", "--partition": "batch", "--sort": "-P", "--states": "idle,mix",
}
SACCT_VALUES = {
    "--accounts": "root", "--associations": "1", "--clusters": "vm", "--constraints": "foo",
    "--delimiter": ":", "--endtime": "now", "--file": None, "--flags": "SchedSubmit", "--gid": "0",
    "--jobs": "{completed}", "--name": "cf-completed", "--nnodes": "1", "--ncpus": "1",
    "--nodelist": "{host}", "--reason": "None", "--state": "CD", "--uid": "0", "--units": "M",
    "--wckeys": "foo", "--whole-hetjob": "yes", "--format": "JobID,State", "--partition": "batch",
    "--qos": "normal", "--starttime": "now-1hour", "--timelimit-max": "2:00:00", "--timelimit-min": "1",
}
SCANCEL_VALUES = {
    "--account": "root", "--clusters": "vm", "--jobname": "{name}", "--nodelist": "{host}",
    "--partition": "batch", "--qos": "normal", "--reservation": "none", "--sibling": "vm",
    "--signal": "USR1", "--state": "PENDING", "--user": "root", "--wckey": "foo",
}
SBATCH_VALUES = {
    "--account": "root", "--acctg-freq": "task=30", "--array": "1-2", "--batch": "foo", "--bb": "foo",
    "--bbf": "/nonexistent", "--begin": "now+1hour", "--chdir": "/tmp", "--cluster-constraint": "foo",
    "--clusters": "vm", "--comment": "hello", "--constraint": "foo", "--container": "/tmp",
    "--core-spec": "1", "--cores-per-socket": "1", "--cpu-freq": "high", "--cpus-per-gpu": "1",
    "--cpus-per-task": "2", "--deadline": "now+2hours", "--delay-boot": "1", "--dependency": "afterok:{running}",
    "--distribution": "block", "--error": "err-%j.txt", "--exclude": "nosuchnode", "--exclusive": None,
    "--export": "NONE", "--export-file": "/nonexistent", "--extra-node-info": "1:1:1", "--get-user-env": None,
    "--gid": "0", "--gpu-bind": "closest", "--gpu-freq": "high", "--gpus": "1", "--gpus-per-node": "1",
    "--gpus-per-socket": "1", "--gpus-per-task": "1", "--gres": "gpu:1", "--gres-flags": "enforce-binding",
    "--hint": "nomultithread", "--input": "/dev/null", "--job-name": "named", "--kill-on-invalid-dep": "yes",
    "--licenses": "foo:1", "--mail-type": "END", "--mail-user": "root", "--mcs-label": "foo", "--mem": "100M",
    "--mem-bind": "local", "--mem-per-cpu": "100M", "--mem-per-gpu": "100M", "--mincpus": "1",
    "--network": "foo", "--nice": "10", "--no-kill": None, "--nodefile": "/nonexistent",
    "--nodelist": "{host}", "--nodes": "1", "--ntasks": "2", "--ntasks-per-core": "1", "--ntasks-per-gpu": "1",
    "--ntasks-per-node": "1", "--ntasks-per-socket": "1", "--open-mode": "append", "--output": "out-%j.txt",
    "--partition": "batch", "--power": "level", "--prefer": "foo", "--priority": "10", "--profile": "none",
    "--propagate": None, "--qos": "normal", "--reservation": "none", "--signal": "B:USR1@60",
    "--sockets-per-node": "1", "--switches": "1", "--thread-spec": "1", "--threads-per-core": "1",
    "--time": "10", "--time-min": "5", "--tmp": "10M", "--uid": "0", "--wait-all-nodes": "1",
    "--wckey": "foo", "--wrap": "true",
}
# Options not sent as a submission case: what they do is not a submission (help, version,
# usage, waiting for the job's end) or they change every later listing (--test-only is its own case).
SBATCH_NOT_SUBMITTED = {"--help", "--usage", "--version", "--wait", "--wrap", "--test-only", "--hold"}
INVALID_SBATCH = {
    "--time": "bogus", "--nodes": "0", "--ntasks": "-1", "--mem": "1X", "--cpus-per-task": "0",
    "--array": "5-1", "--dependency": "bogus:1", "--begin": "yesterday-ish", "--partition": "nosuch",
    "--signal": "NOSIG@10", "--open-mode": "sideways", "--nice": "abc", "--export": "",
    "--mail-type": "SOMETIMES", "--gres": "gpu:x", "--exclusive=bogus": None,
}


def _valued(option: manpages.Option, values: dict[str, str | None], name: str) -> list[str] | None:
    """The words of an option with its sample value; None to leave it out (iterating)."""
    if option.argument == "none":
        return [option.name]
    if option.name not in values:
        raise KeyError(f"{name}: no sample value for the documented option {option.name}")
    value = values[option.name]
    if value is None:
        return None if option.argument == "required" else [option.name]
    return [f"{option.name}={value}"]


def _fill(words: list[str], host: str, name: str = "") -> list[str]:
    return [w.replace("{host}", host).replace("{name}", name) for w in words]


# -- squeue ---------------------------------------------------------------------------------

def squeue_cases(host: str) -> Iterator[Case]:
    letters = [n[1:] for n in manpages.field_names("squeue", "-o") if len(n) == 2]
    names = manpages.field_names("squeue", "-O")
    for letter in letters:
        volatile = f"%{letter}" in VOLATILE_SQUEUE
        for state in LISTING_STATES:
            yield Case(("squeue", "-t", "all", "-j", f"{{{state}}}", "-o", f"%.18i %{letter}"), "squeue -o",
                       (state,), volatile=volatile)
        for spec in (f"%12{letter}", f"%.12{letter}", f"%3{letter}|"):
            yield Case(("squeue", "-t", "all", "-j", ALL, "-o", spec), "squeue -o", LISTING_STATES,
                       volatile=volatile)
    for fieldname in names:
        volatile = fieldname in VOLATILE_SQUEUE
        for spec in (f"JobArrayID:12,{fieldname}", f"{fieldname}:.12", f"{fieldname}:3|", f"{fieldname.upper()}:"):
            yield Case(("squeue", "-t", "all", "-j", ALL, "-O", spec), "squeue -O", LISTING_STATES,
                       volatile=volatile)
    for fmt in ("%all", "%i%t%j", "prefix %i suffix", "%.18i %%", "%.18i %5", "%.0i|%.1t", "%i %!"):
        yield Case(("squeue", "-t", "all", "-j", ALL, "-o", fmt), "squeue -o", LISTING_STATES)
    for spec in ("All", "JobID,,State", "JobID:,State:", "jobid,STATE", "JobID:10x,State", "bogus",
                 "JobID:.", "JobID:0"):
        yield Case(("squeue", "-t", "all", "-j", ALL, "-O", spec), "squeue -O", LISTING_STATES)
    yield from _option_cases("squeue", SQUEUE_VALUES, host, ("squeue", "-t", "all", "-j", ALL),
                             LISTING_STATES)
    for listing in ((), ("-l",), ("-h",), ("-r",), ("--start",), ("-t", "PD"), ("-t", "R,CD"), ("-t", "all"),
                    ("-t", "all", "-S", "i"), ("-t", "all", "-S", "-t,i"), ("--me",), ("-u", "root"),
                    ("-p", "batch"), ("-n", "cf-held,cf-running"), ("-a",), ("--array-unique",),
                    ("-t", "all", "--noconvert", "-o", "%.18i %m")):
        yield Case(("squeue", *listing), "squeue", LISTING_STATES)
    for state in LISTING_STATES:
        for listing in ((), ("-l",), ("--start",), ("-r",), ("-s",)):
            yield Case(("squeue", "-t", "all", "-j", f"{{{state}}}", *listing), "squeue", (state,))
    for env in (("SQUEUE_FORMAT", "%.7i %.10T %r"), ("SQUEUE_FORMAT2", "JobID:9,StateCompact:4,Name:.12"),
                ("SQUEUE_SORT", "-i"), ("SLURM_TIME_FORMAT", "standard"), ("SLURM_TIME_FORMAT", "relative"),
                ("SLURM_TIME_FORMAT", "%H:%M %d.%m"), ("SQUEUE_STATES", "all"), ("SQUEUE_USERS", "root")):
        fmt = ("-o", "%.18i %.20S %.20V %e") if env[0] == "SLURM_TIME_FORMAT" else ()
        yield Case(("squeue", "-t", "all", "-j", ALL, *fmt) if env[0] not in ("SQUEUE_STATES", "SQUEUE_USERS")
                   else ("squeue",), "squeue env", LISTING_STATES, env=(env,))
    for bad in (("-t", "bogus"), ("-j", "abc"), ("-j", "0"), ("-j", "99999"), ("-j", "{running},{running}"),
                ("-j", "{running},99999"), ("-j", "{array}_1"), ("-j", "{array}_9"), ("-j", ""), ("-u", "nosuchuser"),
                ("-p", "nosuch"), ("-S", "bogus"), ("-S", "%"), ("-i", "-1"), ("--bogus",), ("-o",), ("extra",),
                ("-M", "nosuch"), ("--json=bogus",), ("-w", "nosuchnode")):
        yield Case(("squeue", *bad), "squeue invalid", LISTING_STATES)


def _option_cases(command: str, values: dict[str, str | None], host: str, base: tuple[str, ...],
                  states: tuple[str, ...]) -> Iterator[Case]:
    for option in manpages.options(command):
        if option.name in ("--help", "--usage", "--version", "-V", "--helpformat"):
            yield Case((command, option.name), f"{command} options", group=STATIC)
            continue
        words = _valued(option, values, command)
        if words is None:
            continue
        yield Case((*base, *_fill(words, host)), f"{command} options", states)
        if option.short and option.argument != "optional":
            short = [option.short] + ([words[0].split("=", 1)[1]] if "=" in words[0] else [])
            yield Case((*base, *_fill(short, host)), f"{command} options", states)


# -- sinfo ----------------------------------------------------------------------------------

def sinfo_cases(host: str) -> Iterator[Case]:
    letters = [n[1:] for n in manpages.field_names("sinfo", "-o") if len(n) == 2]
    for letter in letters:
        for nodes, spec in (((), f"%{letter}"), (("-N",), f"%.12{letter}"), ((), f"%3{letter}|")):
            yield Case(("sinfo", *nodes, "-o", spec), "sinfo -o", ("running",),
                       volatile=f"%{letter}" in VOLATILE_SINFO)
    for fieldname in manpages.field_names("sinfo", "-O"):
        for nodes, spec in (((), fieldname), (("-N",), f"{fieldname}:.12"), ((), f"{fieldname.lower()}:3|")):
            yield Case(("sinfo", *nodes, "-O", spec), "sinfo -O", ("running",), volatile=fieldname in VOLATILE_SINFO)
    for fmt in ("%all", "%P%a", "x %P y", "%10P %%", "%#P %.5D"):
        yield Case(("sinfo", "-o", fmt), "sinfo -o", ("running",), volatile=fmt in VOLATILE_SINFO)
    for spec in ("PartitionName,,NodeList", "NodeList:10,CPUs:.4,StateLong", "bogus", "partition:0"):
        yield Case(("sinfo", "-O", spec), "sinfo -O", ("running",))
    yield from _option_cases("sinfo", SINFO_VALUES, host, ("sinfo",), ("running",))
    for listing in ((), ("-s",), ("-l",), ("-N",), ("-N", "-l"), ("-R",), ("-d",), ("-r",), ("-h",), ("-e",),
                    ("--noconvert", "-o", "%m %e"), ("-a",), ("-i", "0")):
        yield Case(("sinfo", *listing), "sinfo", ("running",))
    for env in (("SINFO_FORMAT", "%P %t"), ("SINFO_SORT", "-P"), ("SLURM_TIME_FORMAT", "relative")):
        yield Case(("sinfo",), "sinfo env", ("running",), env=(env,))
    for bad in (("-t", "bogus"), ("-p", "nosuch"), ("-n", "nosuch"), ("-o", "%!"), ("-S", "bogus"), ("--bogus",),
                ("extra",), ("-M", "nosuch"), ("-i", "x")):
        yield Case(("sinfo", *bad), "sinfo invalid", ("running",))


# -- sacct ----------------------------------------------------------------------------------

def sacct_cases(fields: list[str]) -> Iterator[Case]:
    for name in fields:
        volatile = name in VOLATILE_SACCT
        yield Case(("sacct", "-j", ALL, "-P", "-o", f"JobID,{name}"), "sacct --format", LISTING_STATES,
                   volatile=volatile)
        for spec in (f"{name}%25", f"{name.lower()}%3"):
            yield Case(("sacct", "-X", "-j", ALL, "-o", spec), "sacct --format", LISTING_STATES, volatile=volatile)
    yield from _option_cases("sacct", SACCT_VALUES, "", ("sacct", "-X", "-j", ALL), LISTING_STATES)
    for listing in ((), ("-X",), ("-n",), ("-P",), ("-p",), ("-X", "-P", "--delimiter=;"), ("-b",), ("-l", "-X"),
                    ("--units=K", "-o", "JobID,ReqMem,MaxRSS"), ("--units=G", "-o", "JobID,ReqMem"),
                    ("--noconvert", "-o", "JobID,ReqMem"), ("-S", "now-1hour", "-E", "now"), ("-X", "-n", "-P"),
                    ("-S", "2020-01-01", "-E", "2020-01-02"), ("-S", "00:00"), ("-a", "-X"), ("-s", "CD,F")):
        yield Case(("sacct", "-j", ALL, *listing), "sacct", LISTING_STATES)
    for state in LISTING_STATES:
        for listing in ((), ("-X",), ("-l",), ("-b",)):
            yield Case(("sacct", "-j", f"{{{state}}}", *listing), "sacct", (state,))
    for env in (("SACCT_FORMAT", "JobID,State,ExitCode"), ("SACCT_FORMAT", "jobid%5,state%.4"),
                ("SLURM_TIME_FORMAT", "standard"), ("SLURM_TIME_FORMAT", "%d/%m %H:%M")):
        fmt = ("-X", "-o", "JobID,Submit,Start,End") if env[0] == "SLURM_TIME_FORMAT" else ()
        yield Case(("sacct", "-j", ALL, *fmt), "sacct env", LISTING_STATES, env=(env,))
    for bad in (("-o", "bogus"), ("-j", "abc"), ("-j", "99999"), ("-j", "{running},{running}"), ("-S", "bogus"),
                ("-E", "x"), ("--units=X",), ("-s", "bogus"), ("--bogus",), ("-u", "nosuchuser"), ("-j", "0"),
                ("-j", "{array}_1"), ("-j", "{running}.batch"), ("--delimiter=:",)):
        yield Case(("sacct", *bad), "sacct invalid", LISTING_STATES)


# -- scontrol ------------------------------------------------------------------------------

def scontrol_cases(host: str) -> Iterator[Case]:
    for state in LISTING_STATES:
        for form in (("show", "job"), ("-o", "show", "job"), ("-d", "show", "job"), ("show", "jobid="),
                     ("sh", "job"), ("show", "jobs")):
            words = (*form[:-1], form[-1] + f"{{{state}}}") if form[-1].endswith("=") else (*form, f"{{{state}}}")
            yield Case(("scontrol", *words), "scontrol show job", (state,))
    for words in (("show", "job"), ("show", "node"), ("show", "node", host), ("show", "nodes"), ("sh", "no"),
                  ("-o", "show", "node"), ("show", "partition"), ("show", "partition", "batch"), ("show", "part"),
                  ("show", "partitions"), ("-o", "show", "partition"), ("show", "hostnames", "vm[1-3],x"),
                  ("show", "hostname", "a,b"), ("show", "hostlist", "n1,n2,n3"), ("show", "hostlistsorted", "n2,n1"),
                  ("show", "config"), ("show", "conf"), ("show", "job", "99999"), ("show", "job", "abc"),
                  ("show", "node", "nosuch"), ("show", "partition", "nosuch"), ("show", "bogus"), ("bogus",),
                  ("show",), ("show", "job", "{array}_1"), ("show", "job", "{array}"), ("show", "job", "{array}_9"),
                  ("show", "daemons"), ("show", "licenses"), ("show", "reservation"), ("show", "aliases"),
                  ("show", "step"), ("show", "topology"), ("show", "federation"), ("show", "frontend"),
                  ("show", "burstbuffer"), ("show", "slurmd"), ("show", "assoc_mgr"), ("version",), ("-V",),
                  ("--version",), ("ping",), ("--help",), ("help",)):
        yield Case(("scontrol", *words), "scontrol", LISTING_STATES)
    for entity in manpages.subcommands("scontrol", "show", "shutdown"):
        yield Case(("scontrol", "show", entity), "scontrol show", LISTING_STATES)
    yield from _option_cases("scontrol", {"--clusters": "vm", "--uid": "0"}, host, ("scontrol",), LISTING_STATES)


def scontrol_update_cases() -> Iterator[Case]:
    held = "{held}"
    for spec in ("Comment=hello", "JobName=renamed", "TimeLimit=30", "TimeLimit=2:00:00", "Nice=5", "NumTasks=2",
                 "MinMemoryNode=200", "Partition=batch", "Account=root", "QOS=normal", "WCKey=foo",
                 "StartTime=now+1hour", "Requeue=0", "Features=foo", "ExcNodeList=nosuch", "CPUsPerTask=1",
                 "Priority=100", "Dependency=afterok:{completed}", "TimeLimit=bogus", "Nice=abc", "Bogus=1",
                 "Partition=nosuch", "NumNodes=0"):
        yield Case(("scontrol", "update", f"JobId={held}", spec), "scontrol update", ("held",),
                   check=(("squeue", "-h", "-j", held, "-o", "%j %l %y %P %a %q %m %r"),), group=CHANGES,
                   serial=True)
    for spec in (("JobId={running}", "TimeLimit=30"), ("JobId=99999", "Comment=x"), ("JobId=abc", "Comment=x")):
        yield Case(("scontrol", "update", *spec), "scontrol update", ("running",), group=CHANGES)
    for verb in ("hold", "uhold", "release", "requeue", "suspend", "resume", "top"):
        for target in ("{new}", "99999"):
            yield Case(("scontrol", verb, target), "scontrol job control", (),
                       setup=(("sbatch", "--hold", "-J", "cf-victim", "--wrap", "sleep 600"),),
                       check=(("squeue", "-h", "-t", "all", "-j", "{new}", "-o", "%T %r"),), group=CHANGES)


# -- scancel --------------------------------------------------------------------------------

def scancel_cases(host: str) -> Iterator[Case]:
    victim = ("sbatch", "--hold", "-J", "{name}", "--wrap", "sleep 600")
    after = (("squeue", "-h", "-t", "all", "-n", "{name}", "-o", "%T %r"),)
    n = 0
    for option in manpages.options("scancel"):
        if option.name in ("--help", "--usage", "--version"):
            yield Case(("scancel", option.name), "scancel options", group=STATIC)
            continue
        words = _valued(option, SCANCEL_VALUES, "scancel")
        if words is None:
            continue
        n += 1
        name = f"cf-victim{n}"
        yield Case(("scancel", *_fill(words, host, name), "{new}"), "scancel options", (),
                   stdin="n\n" if option.name == "--interactive" else "",      # its question: no
                   setup=(tuple(_fill(list(victim), host, name)),),
                   check=tuple(tuple(_fill(list(c), host, name)) for c in after), group=CHANGES)
    for args in (("99999",), ("abc",), ("{new}", "{new}"), ("{new}_1",), ("0",), ("--bogus",), ("-s", "NOSIG", "{new}"),
                 ("{completed}",), ("-b", "{new}"), ("-s", "0", "{new}"), ("--signal=KILL", "{new}"), ("-t", "bogus"),
                 ("-n", "cf-nosuch"), (), ("-u", "nosuchuser")):
        n += 1
        name = f"cf-victim{n}"
        yield Case(("scancel", *args), "scancel invalid", ("completed",),
                   setup=(tuple(_fill(list(victim), host, name)),),
                   check=tuple(tuple(_fill(list(c), host, name)) for c in after), group=CHANGES)


# -- sbatch ---------------------------------------------------------------------------------

def sbatch_cases(host: str) -> Iterator[Case]:
    for n, option in enumerate(manpages.options("sbatch")):
        if option.name in ("--help", "--usage", "--version"):
            yield Case(("sbatch", option.name), "sbatch options", group=STATIC)
            continue
        if option.name in SBATCH_NOT_SUBMITTED:
            continue
        words = _valued(option, SBATCH_VALUES, "sbatch")
        if words is None:
            words = [option.name]
        words = [w.replace("{host}", host) for w in words]
        yield Case(("sbatch", "--hold", *words, "--wrap", "true"), "sbatch options", ("running",), group=CHANGES)
        yield Case(("sbatch", "--hold", f"directive{n}.sh"), "sbatch directives", ("running",), group=CHANGES,
                   script=f"#!/bin/bash\n#SBATCH {' '.join(words)}\ntrue\n")
    for option, value in INVALID_SBATCH.items():
        words = [option] if value is None else [f"{option}={value}"]
        yield Case(("sbatch", "--hold", *words, "--wrap", "true"), "sbatch invalid", group=CHANGES)
    yield Case(("squeue", "-h", "-j", "{new}", "-o", "%a"), "sbatch default account", group=CHANGES,
               setup=(("sbatch", "--hold", "--wrap", "true"),))
    for args in (("--bogus", "--wrap", "true"), ("nosuch.sh",), ("--test-only", "--wrap", "true"),
                 ("--parsable", "--hold", "--wrap", "true"), ("-Q", "--hold", "--wrap", "true")):
        yield Case(("sbatch", *args), "sbatch invalid", group=CHANGES)


def late_cases() -> Iterator[Case]:
    for state in LATE_STATES:
        for fmt in ("%.18i %T %r %l %M", "%all"):
            yield Case(("squeue", "-t", "all", "-j", f"{{{state}}}", "-o", fmt), "squeue -o", (state,), group=LATE)
        yield Case(("squeue", "-t", "all", "-j", f"{{{state}}}"), "squeue", (state,), group=LATE)
        yield Case(("sacct", "-j", f"{{{state}}}"), "sacct", (state,), group=LATE)
        yield Case(("sacct", "-j", f"{{{state}}}", "-P", "-o", "JobID,State,ExitCode,Timelimit,Reason"),
                   "sacct --format", (state,), group=LATE)
        yield Case(("scontrol", "show", "job", f"{{{state}}}"), "scontrol show job", (state,), group=LATE)


def generate(host: str, sacct_fields: list[str]) -> list[Case]:
    """Every case, in the order they run."""
    cases = [*squeue_cases(host), *sinfo_cases(host), *sacct_cases(sacct_fields), *scontrol_cases(host),
             *scontrol_update_cases(), *scancel_cases(host), *sbatch_cases(host), *late_cases()]
    unique = [_late_if_unfiltered(c) for c in {c.id: c for c in cases}.values()]
    # Within a group, the families take turns: a run's first minutes tell about every command.
    rank: dict[str, int] = {}
    turn = []
    for c in unique:
        rank[c.family] = rank.get(c.family, -1) + 1
        turn.append(rank[c.family])
    order = sorted(range(len(unique)), key=lambda i: (_group(unique[i]), turn[i]))
    return [unique[i] for i in order]


def _late_if_unfiltered(case: Case) -> Case:
    """A job listing of every job shows the timeout job too: it runs once that has ended."""
    if case.command in ("squeue", "sacct") and case.group == LISTINGS and not any(
            a in ("-j", "--jobs") or a.startswith(("--jobs=", "-j")) for a in case.argv[1:]):
        return dataclasses.replace(case, states=(*case.states, *LATE_STATES), group=LATE)
    return case


def _group(case: Case) -> int:
    return case.group if case.states or case.group else 0
