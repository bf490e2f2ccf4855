"""packaging/: the example configs are valid and consistent, and the systemd units pass
`systemd-analyze verify` (where that tool exists) and keep what noded's jobs need."""
import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hpcq import config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "packaging" / "config"
UNITS = ROOT / "packaging" / "systemd"
UNIT_NAMES = ("hpcq-ctld.service", "hpcq-noded.service", "hpcq-agent.service")


def load_example(name: str) -> config.Config:
    return config.load(EXAMPLES / f"{name}.toml")


def test_every_example_config_loads():
    assert sorted(p.stem for p in EXAMPLES.glob("*.toml")) == ["compute", "head", "login"]
    for path in EXAMPLES.glob("*.toml"):
        config.load(path)


def test_the_examples_describe_one_cluster():
    head, compute, login = load_example("head"), load_example("compute"), load_example("login")
    assert head.cluster.name == compute.cluster.name == login.cluster.name
    port = config.split_address(head.ctld.listen)[1]
    for server in (compute.noded.server, compute.agent.server, login.agent.server, login.client.server,
                   head.client.server):
        assert config.split_address(server)[1] == port
    assert compute.noded.name in head.ctld.agent_hosts
    assert compute.client.agent_socket == compute.agent.socket
    assert login.client.agent_socket == login.agent.socket
    for c, section in ((head, "ctld"), (compute, "noded"), (compute, "agent"), (login, "agent")):
        s = getattr(c, section)
        assert s.ca and s.cert and s.key, f"{section}: certificate files named"
        assert not getattr(s, "allow_root", False)


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(UNITS / name)
    return parser


def test_units_start_the_installed_commands_with_the_system_config():
    for name in UNIT_NAMES:
        exec_start = _unit(name)["Service"]["ExecStart"]
        assert exec_start.split()[0].endswith("/" + name.removesuffix(".service"))
        assert "/etc/hpcq/hpcq.toml" in exec_start


def test_ctld_and_agent_are_unprivileged_and_noded_can_start_jobs_as_users():
    for name in ("hpcq-ctld.service", "hpcq-agent.service"):
        service = _unit(name)["Service"]
        assert service["User"] == "hpcq"
        assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
        assert service["CapabilityBoundingSet"] == ""
    noded = _unit("hpcq-noded.service")["Service"]
    assert "User" not in noded, "noded runs as root: jobs run as their owners"
    # Jobs inherit noded's sandbox: they need their owners' homes, setuid and a shared /tmp,
    # and they must survive a restart of noded.
    for forbidden in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "ProtectControlGroups", "RestrictSUIDSGID"):
        assert noded.get(forbidden, "no") == "no", forbidden
    assert noded["KillMode"] == "process"
    assert noded["Delegate"] == "yes"
    assert "CAP_SETUID" not in noded.get("CapabilityBoundingSet", "")
    assert _unit("hpcq-agent.service")["Service"]["RuntimeDirectory"] == "hpcq"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_units_pass_systemd_analyze_verify(tmp_path):
    bindir = Path(sys.executable).parent
    for name in UNIT_NAMES:
        # Verify checks that ExecStart exists: point it at this installation's commands.
        (tmp_path / name).write_text((UNITS / name).read_text().replace("/opt/hpcq/bin", str(bindir)))
    result = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / n) for n in UNIT_NAMES)],
                            capture_output=True, text=True, timeout=60)
    # It warns (unknown keys, bad values) on stderr and still exits 0: both must be clean.
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if str(tmp_path) in line]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr
