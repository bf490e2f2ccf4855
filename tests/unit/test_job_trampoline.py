"""The job's start through `sh -c`: variables a shell would drop reach the job through env(1)."""
from __future__ import annotations

from hpcq.noded.jobd import _with_unnamed_variables

FUNCTION = "() {  echo hi\n}"


def test_only_names_a_shell_would_drop_go_through_env() -> None:
    env = {"PATH": "/bin", "BASH_FUNC_f%%": FUNCTION, "_x1": "1"}
    argv = _with_unnamed_variables(env, ["/spool/script", "arg"])
    assert argv == ["/usr/bin/env", "--", f"BASH_FUNC_f%%={FUNCTION}", "/spool/script", "arg"]
    assert env == {"PATH": "/bin", "_x1": "1"}   # sent once, not twice


def test_a_plain_environment_starts_the_command_itself() -> None:
    env = {"PATH": "/bin", "HOME": "/root"}
    assert _with_unnamed_variables(env, ["/spool/script"]) == ["/spool/script"]
    assert env == {"PATH": "/bin", "HOME": "/root"}


def test_a_command_env_would_take_for_an_assignment_keeps_the_shells_environment() -> None:
    env = {"BASH_FUNC_f%%": FUNCTION}
    assert _with_unnamed_variables(env, ["/opt/odd=name/sh", "/spool/script"]) == ["/opt/odd=name/sh", "/spool/script"]
    assert env == {"BASH_FUNC_f%%": FUNCTION}
