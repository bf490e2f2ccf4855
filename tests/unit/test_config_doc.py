"""The generated reference pages are current, and `hpcqctl config check` names what is
wrong in a file; shell completion comes from the same argparse tree hpcqctl parses with."""
import importlib.util
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from hpcq import config
from hpcq.ctl import completion, configcheck
from hpcq.ctl.main import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_config_doc", ROOT / "scripts" / "gen_config_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_config_md_is_current():
    gen = _generator()
    assert (ROOT / "docs" / "config.md").read_text() == gen.config_markdown(), \
        "docs/config.md is stale: run python scripts/gen_config_doc.py"


def test_docs_api_md_tables_are_current():
    gen = _generator()
    current = (ROOT / "docs" / "api.md").read_text()
    assert current == gen.api_markdown(current), "docs/api.md's tables are stale: run python scripts/gen_config_doc.py"


def test_config_md_documents_every_key():
    text = (ROOT / "docs" / "config.md").read_text()
    defaults = config.Config()
    for section in config.SECTIONS:
        assert f"## [{section}]" in text
        for key in type(getattr(defaults, section)).__dataclass_fields__:
            assert f"| `{key}` |" in text, f"[{section}] {key} undocumented"


def test_config_check_names_a_misspelled_key_with_the_nearest_one(tmp_path, capsys):
    path = tmp_path / "hpcq.toml"
    path.write_text("[ctld]\nnode_timout = 30\n")
    assert main(["config", "check", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}: unknown key [ctld] node_timout (did you mean 'node_timeout'?)" in err


def test_config_check_lists_every_error_of_a_file(tmp_path):
    path = tmp_path / "hpcq.toml"
    path.write_text(textwrap.dedent("""\
        [ctld]
        sched_interval = "5"
        commit_batch = 0
        heartbeat_interval = 90.0
        metrics_listen = "localhost"
        allocation_grace_seconds = -1
        [agnet]
        socket = "/run/x"
        [noded]
        cpus = -2
        """))
    errors = configcheck.check(path)
    assert errors[0] == f"{path}: [ctld] sched_interval: expected float, got str '5'"
    assert any("unknown section [agnet] (did you mean 'agent'?)" in e for e in errors)
    assert any("[ctld] commit_batch: must be greater than 0" in e for e in errors)
    assert any("[noded] cpus: must not be negative" in e for e in errors)
    assert any("[ctld] allocation_grace_seconds: must not be negative" in e for e in errors)
    assert any("[ctld] node_timeout: must be longer than heartbeat_interval" in e for e in errors)
    assert any("[ctld] metrics_listen: 'localhost' is not HOST:PORT" in e for e in errors)
    assert len(errors) == 7


def test_config_check_accepts_a_good_file_and_refuses_bad_toml(tmp_path, capsys):
    good = tmp_path / "good.toml"
    good.write_text("[ctld]\nlisten = '0.0.0.0:6817'\nmetrics_listen = '0.0.0.0:9100'\n")
    assert main(["config", "check", str(good)]) == 0
    assert capsys.readouterr().out == f"{good}: OK\n"
    bad = tmp_path / "bad.toml"
    bad.write_text("[ctld\n")
    assert main(["config", "check", str(bad)]) == 1
    assert main(["config", "check", str(tmp_path / "missing.toml")]) == 1


def test_completion_tree_follows_the_parser():
    levels = completion.tree(build_parser())
    assert {"node", "queue", "certs", "config", "status", "completion"} <= set(levels[""].commands)
    assert set(levels["node"].commands) == {"list", "show", "drain", "resume", "remove"}
    assert set(levels["queue"].commands) == {"list", "show", "create", "update", "delete"}
    assert "--max-running-per-user" in levels["queue update"].options
    assert "--allowed-users" in levels["queue create"].valued
    assert "--json" not in levels["queue create"].valued
    assert set(levels["completion"].commands) == {"bash", "zsh"}


def _bash_complete(script: Path, line: str) -> list[str]:
    program = f"""source {script}
read -ra COMP_WORDS <<< {line!r}
[[ {line!r} == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))
_hpcqctl
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    out = subprocess.run(["bash", "--norc", "-c", program], capture_output=True, text=True, check=True).stdout
    return out.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_bash_completion_completes_commands_and_options(tmp_path, capsys):
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "hpcqctl.bash"
    script.write_text(capsys.readouterr().out)
    assert _bash_complete(script, "hpcqctl no") == ["node"]
    assert _bash_complete(script, "hpcqctl node ") == ["list", "show", "drain", "resume", "remove"]
    assert _bash_complete(script, "hpcqctl queue update q --max-r") == ["--max-running-per-user"]
    assert _bash_complete(script, "hpcqctl --help queue ") == ["list", "show", "create", "update", "delete"]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh not installed")
def test_zsh_completion_describes_commands(tmp_path, capsys):
    assert main(["completion", "zsh"]) == 0
    script = tmp_path / "_hpcqctl"
    script.write_text(capsys.readouterr().out)
    subprocess.run(["zsh", "-n", str(script)], check=True)
    program = f"""compdef() {{ : }}
_describe() {{ print -rl -- "${{(@P)${{@[-1]}}}}" }}
_files() {{ print FILES }}
source {script}
words=(hpcqctl queue ""); CURRENT=3; _hpcqctl
words=(hpcqctl config check ""); CURRENT=4; _hpcqctl
"""
    out = subprocess.run(["zsh", "-f", "-c", program], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0].startswith("list:") and any(line.startswith("show:") for line in out)
    assert out[-1] == "FILES"
