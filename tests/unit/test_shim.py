"""The one way a PBS or Slurm command is declared and run (hpcq/shims/shim.py): every
installed command is a Shim; a Shim turns its body's result, a ShimError or a failed
call into the stderr text and exit code of the dialect, and the installed command
flushes its output and exits without the interpreter's teardown."""
import importlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from hpcq.errors import HpcqError
from hpcq.shims.errors import ShimError
from hpcq.shims.shim import Shim

ROOT = Path(__file__).resolve().parents[2]


def shim_scripts() -> dict[str, str]:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    return {name: target for name, target in scripts.items() if target.startswith("hpcq.shims.")}


def test_every_installed_command_is_a_shim():
    scripts = shim_scripts()
    assert {"qsub", "qstat", "qdel", "sbatch", "squeue", "scancel", "srun", "sshare"} <= set(scripts)
    for name, target in scripts.items():
        module_name, _, attribute = target.partition(":")
        module = importlib.import_module(module_name)
        command = getattr(module, attribute)
        assert isinstance(command, Shim), name
        assert module.main == command.main, name          # what the compat tests run


def failing(error: Exception):
    def body(argv: list[str], conn: object) -> int:
        raise error
    return body


def test_the_body_gets_argv_and_its_code_is_the_exit_code():
    seen = []
    shim = Shim(lambda argv, conn: seen.append(argv) or 3, failure=None)
    assert shim.main(["-x", "1"]) == 3 and seen == [["-x", "1"]]


def test_a_failed_call_is_printed_in_the_dialect_words(capsys):
    down = HpcqError("UNAVAILABLE", "ctld at 127.0.0.1:1 refused the connection")
    assert Shim.slurm("squeue", failing(down), lead="slurm_load_jobs error: ").main([]) == 1
    assert capsys.readouterr().err == ("slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n"
                                       "squeue: error: ctld at 127.0.0.1:1 refused the connection\n")
    assert Shim.slurm("sacct", failing(HpcqError("INVALID_ARGUMENT", "bad field"))).main([]) == 1
    assert capsys.readouterr().err == "sacct: error: bad field\n"
    assert Shim.pbs("qstat", failing(down)).main([]) == 255
    assert capsys.readouterr().err.startswith("qstat: cannot connect to server ")
    assert Shim.pbs("qdel", failing(HpcqError("NOT_FOUND", "job 9"))).main([]) == 15001 % 256
    assert capsys.readouterr().err == "qdel: job 9\n"


def test_a_shim_error_is_printed_as_it_stands_and_an_interrupt_is_130(capsys):
    assert Shim.slurm("sbatch", failing(ShimError("sbatch: error: one\nline two", 7))).main([]) == 7
    assert capsys.readouterr().err == "sbatch: error: one\nline two\n"
    assert Shim.pbs("qsub", failing(KeyboardInterrupt())).main([]) == 130


def run_installed(argv: list[str], *, stdout: int = subprocess.PIPE) -> subprocess.CompletedProcess:
    """The command as its console script runs it, with an exit hook that teardown would run."""
    module = shim_scripts()[argv[0]].partition(":")[0]
    code = (f"import atexit, sys; atexit.register(print, 'teardown ran', file=sys.stderr); sys.argv = {argv!r}; "
            f"from {module} import command; command()")
    return subprocess.run([sys.executable, "-c", code], stdout=stdout, stderr=subprocess.PIPE, text=True,
                          timeout=60)


def test_the_installed_command_flushes_and_exits_with_its_code_without_teardown():
    done = run_installed(["sbatch", "--version"])
    assert (done.returncode, done.stdout, done.stderr) == (0, "slurm-wlm 22.05.8\n", "")
    done = run_installed(["squeue", "--bogus"])
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "squeue: unrecognized option '--bogus'\nTry \"squeue --help\" for more information\n"


def test_output_to_a_reader_that_went_away_exits_141_quietly():
    read_end, write_end = os.pipe()
    os.close(read_end)                 # no reader at all: the first write fails (squeue | head, head gone)
    try:
        done = run_installed(["squeue", "--help"], stdout=write_end)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")
