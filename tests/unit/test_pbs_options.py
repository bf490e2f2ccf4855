"""qsub's options and #PBS directives -> JobSpec, and its errors as
shared/compat/openpbs/errors_and_exit_codes.txt shows them."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import datetime

import pytest

from hpcq.api import jobs_pb2
from hpcq.shims.errors import ShimError
from hpcq.shims.pbs import options
from hpcq.shims.submit_context import SubmitContext

ENV = {"HOME": "/home/pbsuser", "LOGNAME": "pbsuser", "PATH": "/opt/pbs/bin:/usr/bin:/bin",
       "MAIL": "/var/mail/pbsuser", "SHELL": "/bin/bash", "EDITOR": "vi", "LANG": "C.UTF-8"}
CWD = "/scratch/pbswork/odd_cwd"


def qsub(*argv: str, stdin: bytes = b"#!/bin/sh\ntrue\n", **environ: str) -> options.QsubRequest:
    ctx = SubmitContext(cwd=CWD, host="pbshost", user="pbsuser", environ={**ENV, **environ}, now=1795437541.0)
    return options.parse(list(argv), ctx, io.BytesIO(stdin))


def spec(*argv: str, **kwargs) -> jobs_pb2.JobSpec:
    return qsub(*argv, **kwargs).spec


def failure(*argv: str, **kwargs) -> ShimError:
    with pytest.raises(ShimError) as caught:
        qsub(*argv, **kwargs)
    return caught.value


USAGE_TAIL = "\n" + options.USAGE


# -- the script ---------------------------------------------------------------------------

def test_script_file(tmp_path):
    path = tmp_path / "envjob.sh"
    path.write_text("#!/bin/sh\nenv | sort\n")
    s = spec(str(path))
    assert s.script == "#!/bin/sh\nenv | sort\n"
    assert s.name == "envjob.sh"
    assert s.dialect == jobs_pb2.DIALECT_PBS
    assert (s.submit_dir, s.submit_host) == (CWD, "pbshost")
    assert s.workdir == ""          # PBS's default ($HOME) is decided where the job runs
    assert s.attributes["submit_arguments"] == str(path)


def test_stdin_script_is_named_STDIN():          # qsub_output.txt: echo true | qsub
    s = spec(stdin=b"true\n")
    assert (s.name, s.script) == ("STDIN", "true\n")


def test_command_after_dashdash():              # dependencies.txt: qsub -N p_ok -- /bin/sleep 5
    s = spec("-N", "p_ok", "--", "/bin/sleep", "5")
    assert s.script == "#!/bin/sh\nexec /bin/sleep 5\n"
    assert s.name == "p_ok"
    assert (s.attributes["executable"], s.attributes["argument_list"]) == ("/bin/sleep", "5")
    assert s.attributes["submit_arguments"] == "-N p_ok -- /bin/sleep 5"
    assert spec("--", "/bin/true").name == "STDIN"
    assert spec("--", "echo", "a b").script == "#!/bin/sh\nexec echo 'a b'\n"


def test_missing_script():                       # qsub /nonexistent/script.sh
    e = failure("/nonexistent/script.sh")
    assert (e.text, e.exit_code) == ("qsub: script file:: No such file or directory", 1)


def test_directory_as_script(tmp_path):
    assert failure(str(tmp_path)).text == "qsub: script not a file"


def test_too_many_scripts():
    assert failure("a.sh", "b.sh").exit_code == 2


# -- options -------------------------------------------------------------------------------

def test_capture_submit_line():                  # job_env_myname.txt
    s = spec("-N", "myname", "-l", "select=1:ncpus=2:mem=100mb", "-l", "walltime=00:05:00")
    r = s.resources
    assert s.name == "myname"
    assert (r.nodes, r.tasks_per_node, r.cpus_per_task, r.mem_per_node_mb) == (1, 1, 2, 100)
    assert s.walltime_seconds == 300
    assert s.attributes["select"] == "1:ncpus=2:mem=100mb"


def test_select_with_mpiprocs_and_gpus():
    r = spec("-l", "select=2:ncpus=8:mpiprocs=4:ngpus=1:mem=4gb:ssd=true").resources
    assert (r.nodes, r.tasks_per_node, r.cpus_per_task, r.gpus_per_node, r.mem_per_node_mb) == (2, 4, 2, 1, 4096)
    assert list(r.features) == ["ssd"]


def test_select_without_count():
    r = spec("-l", "select=ncpus=4").resources
    assert (r.nodes, r.cpus_per_task) == (1, 4)


def test_nodes_ppn():
    r = spec("-l", "nodes=2:ppn=4:gpus=1,walltime=1:00:00").resources
    assert (r.nodes, r.tasks_per_node, r.cpus_per_task, r.gpus_per_node) == (2, 4, 1, 1)


def test_job_wide_ncpus_and_mem():
    s = spec("-l", "ncpus=4", "-l", "mem=2gb")
    assert (s.resources.nodes, s.resources.cpus_per_task, s.resources.mem_per_node_mb) == (1, 4, 2048)


def test_job_wide_mem_spreads_over_nodes():
    assert spec("-l", "nodes=2", "-l", "mem=3gb").resources.mem_per_node_mb == 1536


def test_place_and_kept_resources():
    s = spec("-l", "place=scatter:excl", "-l", "cput=10:00", "-l", "ngpus=2")
    assert s.resources.exclusive and s.attributes["place"] == "scatter:excl"
    assert s.attributes["Resource_List.cput"] == "10:00"
    assert s.resources.gpus_per_node == 2


def test_paths_and_join():
    s = spec("-o", "custom_out.txt", "-e", "pbshost:/tmp/err.txt", "-j", "oe")
    assert (s.stdout_path, s.stderr_path) == (CWD + "/custom_out.txt", "/tmp/err.txt")
    assert s.join_output and "join" not in s.attributes
    eo = spec("-j", "eo")
    assert eo.join_output and eo.attributes["join"] == "eo"
    assert not spec("-j", "n").join_output


def test_scalar_options():
    s = spec("-q", "workq@pbshost", "-A", "acct", "-h", "-p", "10", "-r", "n", "-S", "/bin/bash",
             "-m", "abe", "-M", "me@x", "-P", "proj", "-k", "oe", "-c", "n", "-a", "202611231300",
             "-W", "depend=afterok:11.pbshost", "-W", "umask=027", "-W", "group_list=g")
    assert (s.queue, s.account, s.hold, s.nice) == ("workq", "acct", True, -10)
    assert s.HasField("requeue") and not s.requeue
    assert (s.interpreter, s.mail_events, s.mail_users) == ("/bin/bash", "abe", "me@x")
    assert s.attributes["project"] == "proj" and s.attributes["keep"] == "oe"
    assert s.attributes["execution_time"] == "202611231300"
    assert s.begin_time == datetime(2026, 11, 23, 13, 0).timestamp()
    assert s.attributes["depend"] == "afterok:11.pbshost"
    assert s.umask == 0o27 and s.attributes["group_list"] == "g"


def test_arrays_become_task_sets_with_a_throttle():
    s = spec("-J", "1-10:2%5", "--", "/bin/true")
    assert (s.array.tasks, s.array.max_running) == ("1-10:2", 5)


def test_execution_time_forms():
    now = datetime(2026, 11, 23, 12, 39).timestamp()
    at = lambda value: options.parse_execution_time(value, now)  # noqa: E731
    assert at("1300") == datetime(2026, 11, 23, 13, 0).timestamp()            # later today
    assert at("1200") == datetime(2026, 11, 24, 12, 0).timestamp()            # past: tomorrow
    assert at("221200.30") == datetime(2026, 12, 22, 12, 0, 30).timestamp()  # the 22nd: next month
    assert at("2612011200") == datetime(2026, 12, 1, 12, 0).timestamp()
    assert at("202701011200") == datetime(2027, 1, 1, 12, 0).timestamp()
    assert at("2599") is None and at("123") is None and at("1300.5") is None


def test_zero_suppresses_the_id():
    assert not qsub("-z").print_id and qsub().print_id


# -- the environment --------------------------------------------------------------------

PBS_O = {"PBS_O_HOME": "/home/pbsuser", "PBS_O_LOGNAME": "pbsuser", "PBS_O_PATH": "/opt/pbs/bin:/usr/bin:/bin",
         "PBS_O_MAIL": "/var/mail/pbsuser", "PBS_O_SHELL": "/bin/bash", "PBS_O_WORKDIR": CWD,
         "PBS_O_SYSTEM": os.uname().sysname, "PBS_O_HOST": "pbshost"}


def test_pbs_o_variables():                      # qstat_f_running.txt Variable_List
    assert dict(spec().environment) == PBS_O
    assert spec("-q", "workq").environment["PBS_O_QUEUE"] == "workq"


def test_v_variables():
    env = dict(spec("-v", "A=1,EDITOR,B='x,y',NOTSET").environment)
    assert {k: env[k] for k in ("A", "EDITOR", "B")} == {"A": "1", "EDITOR": "vi", "B": "x,y"}
    assert "NOTSET" not in env and "LANG" not in env


def test_V_sends_everything():
    env = dict(spec("-V").environment)
    assert env == {**ENV, **PBS_O}


# -- directives and precedence ----------------------------------------------------------

SCRIPT = b"""#!/bin/bash
#PBS -N from_script
#PBS -l walltime=01:00:00 -l select=1:ncpus=2
#PBS -q "scriptq"

#PBS -j oe
echo start
#PBS -N ignored
"""


def test_directives():
    s = spec(stdin=SCRIPT)
    assert (s.name, s.walltime_seconds, s.resources.cpus_per_task, s.queue, s.join_output) == \
           ("from_script", 3600, 2, "scriptq", True)


def test_command_line_wins_resource_by_resource():
    s = spec("-N", "cli", "-l", "walltime=00:10:00", stdin=SCRIPT)
    assert (s.name, s.walltime_seconds, s.resources.cpus_per_task) == ("cli", 600, 2)


def test_directive_prefix():
    text = b"#!/bin/sh\n#MY -N mine\n#PBS -N theirs\ntrue\n"
    assert spec("-C", "#MY", stdin=text).name == "mine"
    assert spec(stdin=text, PBS_DPREFIX="#MY").name == "mine"
    assert spec(stdin=text).name == "theirs"


# -- errors --------------------------------------------------------------------------------

def test_invalid_option():                       # qsub -Z -- /bin/true
    e = failure("-Z", "--", "/bin/true")
    assert (e.text, e.exit_code) == ("qsub: invalid option -- 'Z'" + USAGE_TAIL, 2)


def test_missing_argument():
    assert failure("-N").text == "qsub: option requires an argument -- 'N'" + USAGE_TAIL


def test_interactive_takes_the_job_options_and_no_script():
    request = qsub("-I", "-l", "walltime=00:05:00", "-N", "shell")
    assert request.interactive and not request.spec.script
    assert (request.spec.name, request.spec.walltime_seconds) == ("shell", 300)
    assert failure("-I", "job.sh").exit_code == 2


def test_x11_forwarding_and_gui_jobs_are_refused_clearly():
    for argv in (["-I", "-X"], ["-X"]):
        e = failure(*argv)
        assert (e.text, e.exit_code) == ("qsub: -X (X11 forwarding) is not supported: hpcq's interactive jobs (-I) "
                                         "have no display", 2)
    assert failure("-I", "-G").exit_code == 2


def test_bad_walltime():                         # qsub -l walltime=xx -- /bin/true
    e = failure("-l", "walltime=xx", "--", "/bin/true")
    assert (e.text, e.exit_code) == ("qsub: Illegal attribute or resource value Resource_List.walltime", 166)


def test_unknown_resource():                     # qsub -l nosuchres=1 -- /bin/true
    e = failure("-l", "nosuchres=1", "--", "/bin/true")
    assert (e.text, e.exit_code) == ("qsub: Unknown resource Resource_List.nosuchres", 187)


@pytest.mark.parametrize("value", ["walltime", "=5", "walltime=", "a=1,,"])
def test_illegal_l_syntax(value):
    e = failure("-l", value)
    assert (e.text, e.exit_code) == ("qsub: illegal -l value" + USAGE_TAIL, 2)


@pytest.mark.parametrize("value, resource", [
    ("select=0:ncpus=1", "select"), ("select=1:ncpus=x", "select"), ("select=1:mem=8 GB", "select"),
    ("nodes=abc", "nodes"), ("ncpus=0", "ncpus"), ("mem=lots", "mem"),
])
def test_illegal_resource_values(value, resource):
    e = failure("-l", value)
    assert (e.text, e.exit_code) == (f"qsub: Illegal attribute or resource value Resource_List.{resource}", 166)


def test_select_with_several_chunk_kinds_is_refused():
    e = failure("-l", "select=1:ncpus=2+2:ncpus=1")
    assert e.exit_code == 166 and "'+'" in e.text


@pytest.mark.parametrize("argv, letter", [
    (["-J", "1-1"], "J"), (["-J", "5-1"], "J"), (["-N", "bad name"], "N"), (["-j", "x"], "j"),
    (["-r", "maybe"], "r"), (["-p", "2000"], "p"), (["-p", "high"], "p"), (["-m", "xyz"], "m"),
    (["-a", "tomorrow"], "a"), (["-W", "depend"], "W"), (["-W", "umask=999"], "W"), (["-v", "=1"], "v"),
])
def test_illegal_values(argv, letter):
    e = failure(*argv, "--", "/bin/true")
    assert (e.text, e.exit_code) == (f"qsub: illegal -{letter} value" + USAGE_TAIL, 2)


def test_directive_error_names_the_line():
    e = failure(stdin=b"#!/bin/sh\n#PBS -N ok\n#PBS -l walltime=xx\ntrue\n")
    assert e.exit_code == 2
    assert e.text == ("qsub: directive error: -l walltime=xx\n"
                      "qsub: line 3 of STDIN: Illegal attribute or resource value Resource_List.walltime")


def test_directive_with_bad_option_or_quote(tmp_path):
    path = tmp_path / "job.pbs"
    path.write_text("#!/bin/sh\n#PBS -Z\ntrue\n")
    e = failure(str(path))
    assert e.text == f"qsub: directive error: -Z\nqsub: line 2 of {path}: invalid option -- 'Z'"
    e = failure(stdin=b'#!/bin/sh\n#PBS -N "open\n')
    assert e.text == 'qsub: directive error: -N "open\nqsub: line 2 of STDIN: no closing quotation'


def test_inline_comment_is_a_directive_error():
    # PBS has no comments after a directive's options (as Aurora's qsub: "directive error: -A x # ...")
    e = failure(stdin=b"#!/bin/sh\n#PBS -A proj # my project\ntrue\n")
    assert e.text.startswith("qsub: directive error: -A proj # my project\n")


def test_parser_imports_without_grpc():
    code = ("import sys; import hpcq.shims.pbs.options, hpcq.shims.pbs.qstat_format;"
            "assert 'grpc' not in sys.modules, 'grpc imported'; assert 'sqlmodel' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("argv, text, code", [
    (["-l", "select=\u00b2"], "qsub: Illegal attribute or resource value Resource_List.select", 166),
    (["-l", "select=4294967296"], "qsub: Illegal attribute or resource value Resource_List.select", 166),
    (["-l", "select=1:ncpus=4294967296"], "qsub: Illegal attribute or resource value Resource_List.select", 166),
    (["-l", "nodes=1:ppn=4294967296"], "qsub: Illegal attribute or resource value Resource_List.nodes", 166),
    (["-l", "ngpus=4294967296"], "qsub: Illegal attribute or resource value Resource_List.ngpus", 166),
    (["-l", "ncpus=\uff11"], "qsub: Illegal attribute or resource value Resource_List.ncpus", 166),
    (["-l", "mem=" + "9" * 30], "qsub: Illegal attribute or resource value Resource_List.mem", 166),
    (["-l", "walltime=" + "9" * 400], "qsub: Illegal attribute or resource value Resource_List.walltime", 166),
    (["-o", "~\0"], "qsub: illegal -o value" + USAGE_TAIL, 2),
])
def test_values_a_jobspec_cannot_hold_are_refused_in_qsub_words(argv, text, code):
    e = failure(*argv, "--", "/bin/true")
    assert (e.text, e.exit_code) == (text, code)
