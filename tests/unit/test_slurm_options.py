"""sbatch's options, SBATCH_* variables and #SBATCH directives -> JobSpec, and its
errors as shared/compat/slurm/sbatch_*.txt show them."""
from __future__ import annotations

import io
import sys

import pytest

from hpcq.api import jobs_pb2
from hpcq.shims.errors import ShimError
from hpcq.shims.slurm import options
from hpcq.shims.submit_context import SubmitContext

ENV = {"HOME": "/root", "PATH": "/usr/bin:/bin", "ANCHOR_SUBMIT_VAR": "from submit env", "USER": "root"}
CWD = "/scratch/anchor/work/deep/cwd dir"


def context(**environ: str) -> SubmitContext:
    return SubmitContext(cwd=CWD, host="vm", user="root", environ={**ENV, **environ}, now=1795439285.0)


def sbatch(*argv: str, stdin: bytes = b"", **environ: str) -> options.SbatchRequest:
    return options.parse(list(argv), context(**environ), io.BytesIO(stdin))


def spec(*argv: str, **kwargs) -> jobs_pb2.JobSpec:
    return sbatch(*argv, **kwargs).spec


def failure(*argv: str, stdin: bytes = b"", **environ: str) -> ShimError:
    with pytest.raises(ShimError) as caught:
        sbatch(*argv, stdin=stdin, **environ)
    return caught.value


@pytest.fixture
def script(tmp_path):
    def write(text: str, name: str = "job.sh") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)
    return write


# -- the script --------------------------------------------------------------------------

def test_wrap(script):
    s = spec("--wrap", "hostname; pwd")
    assert s.script == "#!/bin/sh\nhostname; pwd\n"
    assert s.name == "wrap"
    assert s.dialect == jobs_pb2.DIALECT_SLURM
    assert s.submit_dir == CWD and s.submit_host == "vm"
    assert "command" not in s.attributes


def test_empty_wrap_is_submitted():          # sbatch_empty_wrap.txt: exit 0
    assert spec("--wrap", "").script == "#!/bin/sh\n\n"


def test_script_file_and_arguments(script):
    path = script("#!/bin/bash\necho $1\n", "envjob.sh")
    s = spec("-J", "myname", path, "arg1", "arg two")
    assert s.script == "#!/bin/bash\necho $1\n"
    assert list(s.argv) == ["arg1", "arg two"]
    assert s.name == "myname"
    assert s.attributes["command"] == path


def test_options_after_the_script_belong_to_it(script):
    path = script("#!/bin/sh\ntrue\n", "envjob.sh")
    s = spec(path, "-J", "x", "--time=5")
    assert s.name == "envjob.sh"
    assert list(s.argv) == ["-J", "x", "--time=5"]
    assert s.walltime_seconds == 0


def test_script_from_stdin():                # sbatch_from_stdin.txt
    s = spec(stdin=b"#!/bin/sh\n#SBATCH -J fromstdin\ntrue\n")
    assert s.name == "fromstdin"
    assert spec(stdin=b"#!/bin/sh\ntrue\n").name == "sbatch"


def test_missing_script():                   # sbatch_missing_script.txt
    e = failure("/nonexistent/script.sh")
    assert (e.text, e.exit_code) == ("sbatch: error: Unable to open file /nonexistent/script.sh", 1)


def test_no_args_and_empty_stdin():          # sbatch_no_args.txt
    e = failure()
    assert (e.text, e.exit_code) == ("sbatch: error: Batch script is empty!", 1)


def test_whitespace_script():
    assert failure(stdin=b"  \n\n").text == "sbatch: error: Batch script contains only whitespace!"


def test_no_shebang(script):                 # sbatch_no_shebang.txt
    e = failure(script("echo no shebang\n", "noshebang.sh"))
    assert e.exit_code == 1
    assert e.text == ("sbatch: error: This does not look like a batch script.  The first\n"
                      "sbatch: error: line must start with #! followed by the path to an interpreter.\n"
                      "sbatch: error: For instance: #!/bin/sh")


def test_dos_line_breaks():
    e = failure(stdin=b"#!/bin/sh\r\ntrue\r\n")
    assert e.text.startswith("sbatch: error: Batch script contains DOS line breaks") and e.exit_code == 1


def test_not_utf8():
    assert "not UTF-8" in failure(stdin=b"#!/bin/sh\necho \xff\n").text


def test_wrap_and_script():                  # sbatch_wrap_and_script.txt
    e = failure("--wrap", "true", "stdin.sh")
    assert (e.text, e.exit_code) == ("sbatch: error: Script arguments not permitted with --wrap option", 1)


# -- option spellings ---------------------------------------------------------------------

def test_capture_submit_line(script):        # sbatch_env_submit.txt
    path = script("#!/bin/sh\nenv\n", "envjob.sh")
    s = spec("-N1", "-n2", "-c1", "--mem=100M", "-J", "myname", "-t", "00:05:00", path, "arg1", "arg two")
    r = s.resources
    assert (r.nodes, r.tasks, r.cpus_per_task, r.mem_per_node_mb) == (1, 2, 1, 100)
    assert s.walltime_seconds == 300
    assert s.name == "myname"


@pytest.mark.parametrize("argv", [
    ["--job-name=a", "--partition=p", "--time=10", "--nodes=2", "--ntasks=4"],
    ["--job-name", "a", "--partition", "p", "--time", "10", "--nodes", "2", "--ntasks", "4"],
    ["-J", "a", "-p", "p", "-t", "10", "-N", "2", "-n", "4"],
    ["-Ja", "-pp", "-t10", "-N2", "-n4"],
    ["--job=a", "--part=p", "--ti=10", "--nodes=2", "--ntasks=4"],    # unambiguous prefixes, as getopt_long
])
def test_spellings(argv):
    s = spec(*argv, "--wrap=true")
    assert (s.name, s.queue, s.walltime_seconds, s.resources.nodes, s.resources.tasks) == ("a", "p", 600, 2, 4)


def test_clustered_flags():
    s = spec("-HQ", "--wrap=true")
    assert s.hold


def test_resources():
    s = spec("-N", "2-4", "--ntasks-per-node=8", "-c", "2", "--mem-per-cpu=1G", "--gres=gpu:2",
             "--exclude=n[1-2]", "-C", "ssd&fast", "--exclusive", "-L", "matlab:2", "--wrap=x")
    r = s.resources
    assert (r.nodes, r.tasks_per_node, r.cpus_per_task, r.mem_per_cpu_mb, r.gpus_per_node) == (2, 8, 2, 1024, 2)
    assert s.attributes["max_nodes"] == "4"
    assert list(r.exclude_nodes) == ["n1", "n2"]
    assert list(r.features) == ["ssd", "fast"]
    assert r.exclusive and dict(r.licenses) == {"matlab": 2}


@pytest.mark.parametrize("gres, gpus", [("gpu", 1), ("gpu:3", 3), ("gpu:a100:2", 2), ("gpu:a100", 1)])
def test_gres_gpu(gres, gpus):
    assert spec(f"--gres={gres}", "--wrap=x").resources.gpus_per_node == gpus


def test_gpus_per_node_and_other_gres():
    s = spec("--gpus-per-node=a100:4", "--gres=nvme:1", "--wrap=x")
    assert s.resources.gpus_per_node == 4
    assert s.attributes["gres"] == "nvme:1"


def test_mem_and_mem_per_cpu_exclude_each_other():
    s = spec("--mem-per-cpu=2G", "--mem=4G", "--wrap=x")
    assert (s.resources.mem_per_node_mb, s.resources.mem_per_cpu_mb) == (4096, 0)


def test_paths_and_modes():
    s = spec("-o", "out_%j.txt", "-e", "/abs/err_%x.txt", "-D", "sub", "--open-mode=append", "--wrap=x")
    assert (s.stdout_path, s.stderr_path) == ("out_%j.txt", "/abs/err_%x.txt")
    assert s.workdir == CWD + "/sub"
    assert s.append_output
    assert not spec("--open-mode", "truncate", "--wrap=x").append_output


def test_job_attributes():
    s = spec("-A", "proj", "--hold", "--comment=hello there", "--requeue", "-d", "afterok:12:13",
             "--qos=high", "--nice=5", "--mail-type=END,fail", "--mail-user=me@x",
             "--signal=B:USR1@90", "--wrap=x")
    assert s.account == "proj" and s.hold and s.comment == "hello there"
    assert s.HasField("requeue") and s.requeue
    assert s.attributes["dependency"] == "afterok:12:13"
    assert s.attributes["qos"] == "high"
    assert s.nice == 5
    assert (s.mail_events, s.mail_users) == ("END,FAIL", "me@x")
    assert (s.kill_signal, s.kill_signal_seconds) == (10, 90)
    assert not spec("--no-requeue", "--wrap=x").requeue
    assert not spec("--wrap=x").HasField("requeue")


@pytest.mark.parametrize("value,tasks,throttle", [("1-10%2", "1-10", 2), ("0-15:4", "0-15:4", 0),
                                                  ("1,3,5-7", "1,3,5-7", 0), ("7", "7", 0)])
def test_arrays_become_task_sets_with_a_throttle(value, tasks, throttle):
    s = spec(f"--array={value}", "--wrap=x")
    assert (s.array.tasks, s.array.max_running) == (tasks, throttle)


@pytest.mark.parametrize("value", ["5-1", "1-", "x", "1-10%0", "1-5:0", ""])
def test_bad_array(value):                                # sbatch_bad_array.txt
    e = failure(f"--array={value}", "--wrap=x")
    assert (e.text, e.exit_code) == ("sbatch: error: Batch job submission failed: Invalid job array specification", 1)


def test_begin():
    assert spec("--begin=now+30", "--wrap=x").begin_time == 1795439285.0 + 30


def test_unlimited_time():
    s = spec("-t", "UNLIMITED", "--wrap=x")
    assert s.walltime_seconds == 0 and s.attributes["time_limit"] == "UNLIMITED"
    assert "time_limit" not in spec("-t", "UNLIMITED", "-t", "5", "--wrap=x").attributes


def test_run_flags():
    r = sbatch("--parsable", "--test-only", "--wrap=x")
    assert r.parsable and r.test_only and not r.quiet
    assert sbatch("--help").help


# -- the environment --------------------------------------------------------------------

def test_export_all_is_the_default():
    s = spec("--wrap=x")
    assert dict(s.environment) == ENV
    assert "export" not in s.attributes


def test_export_none():                      # sbatch_env_exportnone.txt
    s = spec("--export=NONE", "--wrap=x")
    assert dict(s.environment) == {}
    assert s.attributes["export"] == "NONE"


def test_export_list():
    assert dict(spec("--export=HOME,X=1,MISSING", "--wrap=x").environment) == {"HOME": "/root", "X": "1"}
    assert dict(spec("--export=ALL,X=1", "--wrap=x").environment) == {**ENV, "X": "1"}


def test_export_environment_is_reusable():
    assert options.export_environment("NONE,Y=2", {"A": "1"}) == {"Y": "2"}


# -- precedence: command line, then SBATCH_* variables, then directives --------------------

SCRIPT = b"""#!/bin/bash
# a comment
#SBATCH -J from_script
#SBATCH --time=10 --partition=scriptq   # trailing comment
#SBATCH --comment="two words"

#SBATCH -n 3
echo start
#SBATCH -N 9
"""


def test_directives():
    s = spec(stdin=SCRIPT)
    assert (s.name, s.walltime_seconds, s.queue, s.comment, s.resources.tasks) == \
           ("from_script", 600, "scriptq", "two words", 3)
    assert s.resources.nodes == 0     # after the first command: not a directive


def test_command_line_wins_over_directives():
    s = spec("-J", "cli", "-t", "1", stdin=SCRIPT)
    assert (s.name, s.walltime_seconds, s.queue) == ("cli", 60, "scriptq")


def test_input_environment_between_the_two():
    s = spec(stdin=SCRIPT, SBATCH_PARTITION="envq", SBATCH_TIMELIMIT="20")
    assert (s.queue, s.walltime_seconds) == ("envq", 1200)
    assert spec("-p", "cliq", stdin=SCRIPT, SBATCH_PARTITION="envq").queue == "cliq"


def test_prefix_must_be_a_word():
    assert spec(stdin=b"#!/bin/sh\n#SBATCHX -J no\n# SBATCH -J no\ntrue\n").name == "sbatch"


# -- errors ------------------------------------------------------------------------------

def test_unrecognized_option():               # sbatch_invalid_option.txt
    e = failure("--no-such-option", "--wrap", "true")
    assert e.exit_code == 255
    assert e.text == "sbatch: unrecognized option '--no-such-option'\nTry \"sbatch --help\" for more information"


def test_invalid_short_option_and_missing_argument():
    assert failure("-Z", "--wrap=x").text.startswith("sbatch: invalid option -- 'Z'\n")
    assert failure("--wrap=x", "-t").text.startswith("sbatch: option requires an argument -- 't'\n")
    assert failure("--time").text.startswith("sbatch: option '--time' requires an argument\n")
    assert failure("--hold=yes", "--wrap=x").text.startswith("sbatch: option '--hold' doesn't allow an argument\n")
    assert failure("--n", "--wrap=x").text.startswith("sbatch: option '--n' is ambiguous; possibilities:")


def test_bad_time():                          # sbatch_bad_time.txt
    e = failure("-t", "abc", "--wrap", "true")
    assert (e.text, e.exit_code) == ("sbatch: error: Invalid --time specification", 255)


def test_bad_time_is_reported_before_the_script_is_read():
    assert failure("-t", "abc", "/nonexistent/script.sh").text == "sbatch: error: Invalid --time specification"


@pytest.mark.parametrize("argv, text", [
    (["--mem=1X"], "sbatch: error: invalid memory constraint 1X"),
    (["--mem-per-cpu=lots"], "sbatch: error: invalid memory constraint lots"),
    (["-N", "abc"], "sbatch: error: invalid node count `abc'"),
    (["-n", "two"], 'sbatch: error: Invalid numeric value "two" for --ntasks.'),
    (["-c", "-1"], 'sbatch: error: Invalid numeric value "-1" for --cpus-per-task.'),
    (["--ntasks-per-node=x"], 'sbatch: error: Invalid numeric value "x" for --ntasks-per-node.'),
    (["--begin=soon"], "sbatch: error: Invalid --begin specification"),
    (["--open-mode=sideways"], "sbatch: error: Invalid --open-mode argument: sideways"),
    (["--signal=NOPE"], "sbatch: error: Invalid --signal specification"),
    (["--mail-type=SOMETIMES"], "sbatch: error: --mail-type=SOMETIMES invalid"),
    (["--nice=high"], "sbatch: error: Invalid --nice value: high"),
    (["--exclude=n[1-"], "sbatch: error: Invalid --exclude specification: invalid host list 'n[1-': "
                         "unbalanced brackets"),
])
def test_value_errors(argv, text):
    e = failure(*argv, "--wrap=x")
    assert (e.text, e.exit_code) == (text, 255)


def test_bad_gres_is_a_submission_error():
    e = failure("--gres=gpu:x:y:z", "--wrap=x")
    assert (e.text, e.exit_code) == ("sbatch: error: Invalid generic resource (gres) specification", 1)


def test_directive_errors_name_the_line():
    e = failure(stdin=b"#!/bin/sh\n\n#SBATCH --time=abc\ntrue\n")
    assert e.exit_code == 255
    assert e.text == ("sbatch: error: Invalid --time specification\n"
                      "sbatch: error: line 3 of standard input: #SBATCH --time=abc")


def test_unknown_directive_option(script):
    path = script("#!/bin/sh\n#SBATCH --frobnicate\ntrue\n")
    e = failure(path)
    assert e.exit_code == 255
    assert e.text == (f"sbatch: unrecognized option '--frobnicate'\n"
                      f"sbatch: error: line 2 of {path}: #SBATCH --frobnicate")


def test_stray_word_in_directive():
    e = failure(stdin=b"#!/bin/sh\n#SBATCH --mail-user=<your e-mail>\ntrue\n")
    assert e.text.splitlines()[0] == "sbatch: error: Invalid directive found in batch script: e-mail>"
    assert e.exit_code == 255


def test_unbalanced_quote_in_directive():
    e = failure(stdin=b'#!/bin/sh\n#SBATCH -J "open\ntrue\n')
    assert e.text == 'sbatch: error: line 2 of standard input: #SBATCH -J "open: no closing quotation'


def test_parser_imports_without_grpc():
    import subprocess
    code = ("import sys; import hpcq.shims.slurm.options, hpcq.shims.slurm.squeue_format;"
            "assert 'grpc' not in sys.modules, 'grpc imported'; assert 'sqlmodel' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("argv, text", [
    (["--cpus-per-task=4294967296"], 'sbatch: error: Invalid numeric value "4294967296" for --cpus-per-task.'),
    (["-n", "\u00b2"], 'sbatch: error: Invalid numeric value "\u00b2" for --ntasks.'),
    (["-N", "\u00b2"], "sbatch: error: invalid node count `\u00b2'"),
    (["-N", "4294967296"], "sbatch: error: invalid node count `4294967296'"),
    (["--gres=gpu:4294967296"], "sbatch: error: Invalid generic resource (gres) specification"),
    (["-t", "9" * 12], "sbatch: error: Invalid --time specification"),
    (["--mem=" + "9" * 30], "sbatch: error: invalid memory constraint " + "9" * 30),
    (["--begin=now+" + "9" * 400], "sbatch: error: Invalid --begin specification"),
    (["--nice=4294967296"], "sbatch: error: Invalid --nice value: 4294967296"),
    (["--signal=USR1@4294967296"], "sbatch: error: Invalid --signal specification"),
    (["-D", "~\0"], "sbatch: error: Invalid --chdir specification: '~\\x00': a path cannot hold a NUL byte"),
])
def test_values_a_jobspec_cannot_hold_are_refused_in_sbatch_words(argv, text):
    e = failure(*argv, "--wrap=x")
    assert e.text == text


def test_time_limit_from_the_environment_is_checked_too():
    e = failure("--wrap=x", SBATCH_TIMELIMIT="4294967295")
    assert e.text == "sbatch: error: Invalid --time specification"
