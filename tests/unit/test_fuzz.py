"""Fuzzing the parsers that read what users type, and the Submit validator.

Each parser may refuse its input only in its documented way: the unit and host-list
parsers with ValueError (HostlistError is one), the shims with ShimError (whose text
the command prints before exiting), `validate` with InvalidArgument (which the servicer
turns into INVALID_ARGUMENT). Anything else escaping is a crash: a traceback instead
of `sbatch: error: …`, or INTERNAL instead of a message naming the field.

Every test runs 10,000 cases and feeds each case to every parser it names, so each
parser sees at least 10,000 inputs. To afford that on a small machine, most inputs
are drawn as bytes and read as a sequence of tokens from a table made of the pieces
each grammar is built of (option letters, resource names, digits including those
int() and str.isdigit disagree about, separators, quotes, huge numbers) and some
arbitrary text: a byte costs hypothesis little and shrinks well. `note` shows the
decoded input of a failing case. Known crashes are explicit examples, so that a test
waiting for a fix fails at once instead of searching and shrinking for a minute.
"""
from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

from hpcq import hostlist, units
from hpcq.api import jobs_pb2
from hpcq.ctld import jobs
from hpcq.ctld.errors import InvalidArgument
from hpcq.shims import directives as shim_directives
from hpcq.shims.errors import ShimError
from hpcq.shims.pbs import options as pbs
from hpcq.shims.slurm import options as slurm
from hpcq.shims.submit_context import SubmitContext

FUZZ = settings(max_examples=10_000, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

NOW = 1_795_439_285.0
ENVIRON = {"HOME": "/home/alice", "PATH": "/usr/bin:/bin", "USER": "alice", "LOGNAME": "alice"}
SCRIPT = "#!/bin/sh\n#PBS -N fromfile\n#SBATCH -J fromfile\necho hi\n"
BREAK = "\x1f"      # a token that splits the decoded text into words (argv) or lines (scripts)


@pytest.fixture(scope="module", autouse=True)
def no_script_files():
    """A fuzzed operand must not make a shim read a real file (think /dev/zero): a
    script named by path is this fixed text; standard input is read as usual."""
    real = shim_directives.read_script

    def read_script(path, stdin=None):
        return real(None, stdin) if path is None else SCRIPT

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(shim_directives, "read_script", read_script)
        yield


def table(*tokens: str) -> tuple[str, ...]:
    """Tokens, plus what every table shares: numbers of every size and kind, digits
    as int() and \\d see them and as they do not (fullwidth and Arabic-Indic digits are
    decimal; superscript two is a digit to str.isdigit but not decimal), separators."""
    return (*tokens,
            "0", "1", "2", "7", "10", "59", "60", "99", "00", "007", "-1", "1.5", ".", "1e9", "inf", "nan",
            "4294967295", "4294967296", "9" * 12, "9" * 30, "9" * 400, "1" * 5000,
            "\uff11", "\u0663", "\u00b2", "\U0001d7d8", "\u00e9", "\u2028", "\0",
            ":", "-", "=", ",", "+", "@", "%", "/", "[", "]", "*", " ", "\t")


def decode(data: bytes, tokens: tuple[str, ...]) -> str:
    return "".join(tokens[b % len(tokens)] for b in data)


# -- units ---------------------------------------------------------------------------------

UNIT_TOKENS = table(
    "UNLIMITED", "INFINITE", "unlimited", "now", "now+", "today", "tomorrow", "midnight", "noon", "teatime",
    "fika", "am", "pm", "T", "t", "s", "min", "hours", "days", "weeks", "-", ":", ":", "1", "12",
    "2026-11-23", "11/23", "/26", "23:59", "K", "M", "G", "T", "P", "B", "k", "m", "g", "t", "p", "b", "w",
    "kb", "mb", "gb", "tb", "pb", "kw")


def units_case(*tokens: str) -> tuple[bytes, bool]:
    """The drawn arguments that decode to these tokens: a known case as an example."""
    return bytes(UNIT_TOKENS.index(t) for t in tokens), False


def refuse_only_with_value_error(text: str, *parsers) -> None:
    note(f"text={text!r}")
    for parse in parsers:
        try:
            parse(text)
        except ValueError:
            pass


@FUZZ
@given(st.binary(max_size=24), st.booleans())
def test_slurm_time_and_pbs_size_bytes_raise_only_value_error(data: bytes, raw: bool) -> None:
    text = data.decode("utf-8", "replace") if raw else decode(data, UNIT_TOKENS)
    refuse_only_with_value_error(text, units.parse_slurm_time, units.parse_pbs_size_bytes)


@FUZZ
@given(st.binary(max_size=24), st.booleans())
@example(*units_case("9" * 400))
@example(*units_case("9" * 400, "K"))
@example(*units_case("now+", "9" * 400))
def test_pbs_time_pbs_size_slurm_size_and_timestamp_raise_only_value_error(data: bytes, raw: bool) -> None:
    text = data.decode("utf-8", "replace") if raw else decode(data, UNIT_TOKENS)
    refuse_only_with_value_error(text, units.parse_pbs_time, units.parse_pbs_size, units.parse_slurm_size,
                                 lambda text: units.parse_slurm_timestamp(text, NOW))


# -- host lists ----------------------------------------------------------------------------

# Small numbers only: a range of a million names is legal and merely slow.
HOSTLIST_TOKENS = (
    "node", "n", "gpu-", "login", ".ib", "a1b", "-", "-", ",", ",", "[", "]", "[", "]", "0", "1", "3", "9",
    "07", "10", "00", "099", "120", "[1-3]", "[01-04,07]", "[2-1]", "[-]", "[,]", "[1-]", "[x]", " ",
    "\uff11", "\u0663", "\u00b2", "\0", "9" * 30)
HOST_PREFIXES = ("node", "n", "gpu-", "c1-", "login", "a.b")


def host_names(data: bytes) -> list[str]:
    """Names as compress() meets them: a prefix and a number of some width, or none."""
    names = []
    for i in range(0, len(data) - 2, 3):
        prefix = HOST_PREFIXES[data[i] % len(HOST_PREFIXES)]
        number, width = data[i + 1] * 8 + data[i + 2] % 8, data[i + 2] // 64
        names.append(prefix if data[i + 2] % 8 == 7 else f"{prefix}{number:0{width}d}")
    return names


@FUZZ
@given(st.binary(max_size=24), st.binary(max_size=36))
def test_hostlist_expand_refuses_only_with_hostlist_error_and_compress_round_trips(
    expression_data: bytes, names_data: bytes
) -> None:
    expression = decode(expression_data, HOSTLIST_TOKENS)
    names = host_names(names_data)
    note(f"expression={expression!r} names={names!r}")
    try:
        assert all(hostlist.expand(expression))
    except ValueError:        # HostlistError, as documented, or a ValueError callers also catch
        pass

    assert sorted(set(hostlist.expand(hostlist.compress(names)))) == sorted(set(names))


# -- qsub and sbatch -----------------------------------------------------------------------

# A shim's input is read as words: a byte from 160 up says the next byte picks an
# option, which starts a word (often with the start of its value, so that the odd
# digit lands right after "select=" often enough); a smaller byte adds a value token
# to the current word. BREAK inside an option splits it into two arguments.
VALUE_TOKENS = table(
    ":ncpus=", ":mem=", ":mpiprocs=", ":ngpus=", ":ppn=", ":gpus=", ":", "gb", "mb", "kb", "w", "=true",
    "K", "M", "G", "T", "-", ",", "'", '"', "\\", "#", "'a b'", "~", "~root", "host:", "\n", "\r",
    "now+", "hours", "noon", "gpu:", "tesla:", "B:", "R:", "USR1", "SIG", "@", "%", "*", "ALL", "NONE")


def shim_words(data: bytes, options: tuple[str, ...]) -> list[str]:
    words: list[str] = []
    starting = True
    for b in data:
        if starting:
            words.append(options[b % len(options)])
            starting = False
        elif b >= 160:
            starting = True          # the next byte picks the option
        else:
            words[-1] += VALUE_TOKENS[b % len(VALUE_TOKENS)]
    return words


def shim_case(options: tuple[str, ...], *words: tuple[str, ...]) -> bytes:
    """The bytes shim_words() reads as these (option, value token, ...) words."""
    out = bytearray()
    for option, *values in words:
        out += bytes([255] if out else []) + bytes([options.index(option)])
        out += bytes(VALUE_TOKENS.index(v) for v in values)
    return bytes(out)


def arguments(words: list[str]) -> list[str]:
    return BREAK.join(words).split(BREAK)


def directives(prefix: str, words: list[str]) -> str:
    """One directive line per word, after a shebang; a word may break the block."""
    return "#!/bin/sh\n" + "".join(f"{prefix} {w.replace(BREAK, ' ')}\n" for w in words)


PBS_OPTIONS = tuple(
    [f"-{c}{BREAK}" for c in "aAcCefGhIjJkmMNopPqrRSuvVWXz"]
    + [f"-l{BREAK}{r}=" for r in ("select", "select=1:ncpus", "walltime", "mem", "nodes", "nodes=1:ppn",
                                  "ncpus", "ngpus", "place", "cput", "software")]
    + [f"-W{BREAK}umask=", f"-W{BREAK}depend=afterok:", "-lselect=", "-Jwalltime", "-J", "-p", "-a", "-hz",
       "--version", "--", "", "\necho x\n", "#PBS", "-l"])


def qsub(argv: list[str], script: str) -> None:
    try:
        pbs.parse(argv, SubmitContext("/home/alice/work", "login1", "alice", ENVIRON, NOW),
                  io.BytesIO(script.encode("utf-8", "surrogatepass")))
    except ShimError:
        pass


@FUZZ
@given(st.binary(max_size=24), st.binary(max_size=24))
@example(shim_case(PBS_OPTIONS, (f"-l{BREAK}select=", "\u00b2")), b"")
@example(shim_case(PBS_OPTIONS, (f"-l{BREAK}ngpus=", "4294967296")), b"")
@example(shim_case(PBS_OPTIONS, (f"-l{BREAK}walltime=", "9" * 400)), b"")
@example(shim_case(PBS_OPTIONS, (f"-o{BREAK}", "~", "\0")), b"")
@example(b"", shim_case(PBS_OPTIONS, (f"-l{BREAK}mem=", "9" * 30)))
def test_qsub_arguments_and_directives_raise_only_shim_error(argv_data: bytes, script_data: bytes) -> None:
    argv = arguments(shim_words(argv_data, PBS_OPTIONS))
    note(f"argv={argv!r}")
    qsub(argv, SCRIPT)
    script = directives("#PBS", shim_words(script_data, PBS_OPTIONS))
    note(f"script={script!r}")
    qsub([], script)


SLURM_OPTIONS = tuple(
    [f"-{c}{BREAK}" for c in "aAbcCdDeGHhiJLnNopqQtvwx"]
    + [f"--{name}=" for name, (kind, _) in slurm._LONG.items() if kind]
    + [f"--{name}" for name, (kind, _) in slurm._LONG.items() if kind != ":"]
    + ["--gres=gpu:", "--signal=B:", "--begin=now+", "--time=1-", "--nodelist=node[", "--me", "--ti=",
       "--no", "--", "", "\necho x\n", "#SBATCH"])
ENV_KEYS = tuple(sorted(slurm._ENV_OPTIONS))


def sbatch(argv: list[str], script: str, environ: dict[str, str]) -> None:
    ctx = SubmitContext("/home/alice/work", "login1", "alice", {**ENVIRON, **environ}, NOW)
    try:
        slurm.parse(argv, ctx, io.BytesIO(script.encode("utf-8", "surrogatepass")))
    except ShimError:
        pass


@FUZZ
@given(st.binary(max_size=24), st.binary(max_size=24), st.binary(max_size=6))
@example(shim_case(SLURM_OPTIONS, (f"-N{BREAK}", "\u00b2")), b"", b"")
@example(shim_case(SLURM_OPTIONS, ("--cpus-per-task=", "4294967296")), b"", b"")
@example(shim_case(SLURM_OPTIONS, (f"-t{BREAK}", "9" * 12)), b"", b"")
@example(shim_case(SLURM_OPTIONS, ("--begin=now+", "9" * 400)), b"", b"")
@example(shim_case(SLURM_OPTIONS, (f"-D{BREAK}", "~", "\0")), b"", b"")
@example(b"", shim_case(SLURM_OPTIONS, ("--mem=", "9" * 30)), b"")
def test_sbatch_arguments_variables_and_directives_raise_only_shim_error(
    argv_data: bytes, script_data: bytes, env_data: bytes
) -> None:
    argv = arguments(shim_words(argv_data, SLURM_OPTIONS))
    # An environment cannot hold NUL; anything else may be in an SBATCH_* variable.
    environ = {ENV_KEYS[b % len(ENV_KEYS)]: decode(env_data[i + 1:i + 3], VALUE_TOKENS).replace("\0", "")
               for i, b in enumerate(env_data[::3])}
    note(f"argv={argv!r} environ={environ!r}")
    sbatch(argv, SCRIPT, environ)
    script = directives("#SBATCH", shim_words(script_data, SLURM_OPTIONS))
    note(f"script={script!r}")
    sbatch([], script, {})


# -- the Submit validator ------------------------------------------------------------------

# A JobSpec is drawn as bytes too, read two at a time: which field, then which value
# from that field's table (strings are appended to, so several pairs build longer
# ones). Every field the validator or the scheduler's view reads is here.
TEXTS = ("", "a", "job", "/abs/dir", "rel/dir", "~", " ", " \t\n", "\n", "\r", "\0", "\t", "A", "_", "1",
         "=", "-", ".", "é", "\u2028", "\U0001f600", "x" * 100, "n" * jobs.MAX_NAME, "é" * 130,
         "#!/bin/sh\necho hi\n", "A\n", "PATH", "A B", "$")
UINT32S = (0, 1, 2, 3, 7, 64, 100_000, 100_001, 10_000_000, 10_000_001, 2**31, 2**32 - 1)
UINT64S = (0, 1, 1024, 2**32, 2**53 + 1, 2**63, 2**64 - 1)
FLOATS = (0.0, -0.0, 1.0, -1.0, NOW, NOW + 60, 1e300, -1e300, float("inf"), float("-inf"), float("nan"), 5e-324)
STRING_FIELDS = ("name", "queue", "account", "script", "submit_dir", "workdir", "stdout_path", "stderr_path",
                 "interpreter", "comment")
RESOURCE_FIELDS = ("nodes", "tasks", "tasks_per_node", "cpus_per_task", "gpus_per_node")


def job_spec(data: bytes) -> jobs_pb2.JobSpec:
    spec = jobs_pb2.JobSpec()
    r = spec.resources
    for i in range(0, len(data) - 1, 2):
        which, b = data[i] % 24, data[i + 1]
        if which < len(STRING_FIELDS):                      # 0-9
            name = STRING_FIELDS[which]
            setattr(spec, name, getattr(spec, name) + TEXTS[b % len(TEXTS)])
        elif which < 15:                                    # 10-14
            setattr(r, RESOURCE_FIELDS[which - 10], UINT32S[b % len(UINT32S)])
        elif which < 17:                                    # 15-16
            setattr(r, ("mem_per_node_mb", "mem_per_cpu_mb")[which - 15], UINT64S[b % len(UINT64S)])
        elif which < 20:                                    # 17-19: a variable, its name built from two texts
            spec.environment[TEXTS[b % len(TEXTS)] + TEXTS[b // len(TEXTS) % len(TEXTS)]] = TEXTS[b % 7]
        elif which == 20:
            spec.begin_time = FLOATS[b % len(FLOATS)]
        elif which == 21:
            spec.walltime_seconds = UINT32S[b % len(UINT32S)]
        elif which == 22:
            spec.hold = bool(b & 1)
        else:
            spec.script = "#!/bin/sh\nexit 0\n"
    return spec


@FUZZ
@given(st.binary(max_size=48))
def test_validate_raises_only_invalid_argument(data: bytes) -> None:
    spec = job_spec(data)
    note(f"spec={spec}")
    try:
        jobs.validate(spec)
    except InvalidArgument:
        return
    # What the validator accepts, the scheduler's view must take.
    nodes, cpus, mem, gpus = jobs.shape(spec)
    assert nodes >= 1 and cpus >= 1 and mem >= 0 and gpus >= 0


def test_validate_refuses_a_script_over_the_limit() -> None:
    """Copying 4 MiB per case would cost more than all the fuzzing: this limit is one case."""
    spec = jobs_pb2.JobSpec(script="#!/bin/sh\n" + "x" * jobs.MAX_SCRIPT_BYTES)

    with pytest.raises(InvalidArgument, match="script: larger than"):
        jobs.validate(spec)


# -- dependencies, parsed by ctld at submit -------------------------------------------------

DEPENDENCY_TOKENS = table(
    "afterok", "afterany", "afternotok", "after", "singleton", "aftercorr", "before", "runone", "depend=",
    "afterok:", "afterany:", ":", ":", ",", "?", "+", "_", "[", "[]", "]", ".server", "@host", "\n", "AFTEROK")


@FUZZ
@given(st.binary(max_size=20), st.booleans())
@example(bytes(DEPENDENCY_TOKENS.index(t) for t in ("afterok:", "9" * 30)), True)
def test_dependency_resolution_raises_only_invalid_argument(data: bytes, slurm_dialect: bool) -> None:
    text = decode(data, DEPENDENCY_TOKENS)
    note(f"dependency={text!r}")
    spec = jobs_pb2.JobSpec(script="#!/bin/sh\n",
                            dialect=jobs_pb2.DIALECT_SLURM if slurm_dialect else jobs_pb2.DIALECT_PBS,
                            attributes={"dependency" if slurm_dialect else "depend": text})
    try:
        jobs.resolve_dependencies(spec)
    except InvalidArgument:
        return
    assert all(d.job_ids or d.tasks or d.kind == jobs_pb2.Dependency.SINGLETON for d in spec.dependencies)
