"""What one caller can cost everyone: the agent's metrics and rate limit against invented
methods, and scripts of any size refused with one line in each dialect's words, through
the agent and with a certificate."""
from __future__ import annotations

import socket
import stat
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hpcq import config, wire
from tests.conftest import wait_until
from tests.security.conftest import SecureCluster

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
FLOOD = 10_000
BATCH = 500
SLACK = 2048   # bytes the page may change by anyway: counts gain digits, process figures move


class Agent:
    """An extra hpcq-agent of the session's cluster, with its own socket, settings and metrics port."""

    def __init__(self, secure: SecureCluster, directory: Path, socket_path: Path | None = None,
                 umask: int = 0o022, **settings: object) -> None:
        cfg = config.load(secure.cluster.home / "hpcq.toml")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.metrics_port = s.getsockname()[1]
        self.socket = socket_path or directory / "agent.sock"
        lines = [f"socket = '{self.socket}'", f"server = {cfg.agent.server!r}", f"ca = {cfg.agent.ca!r}",
                 f"cert = {cfg.agent.cert!r}", f"key = {cfg.agent.key!r}",
                 f"metrics_listen = '127.0.0.1:{self.metrics_port}'", "allow_root = true"]
        lines += [f"{key} = {value!r}" for key, value in settings.items()]
        conf = directory / "agent.toml"
        conf.write_text(f"[cluster]\nname = {cfg.cluster.name!r}\n[agent]\n" + "\n".join(lines) + "\n")
        self.process = subprocess.Popen([str(BIN / "hpcq-agent"), "-c", str(conf)], stderr=subprocess.DEVNULL,
                                        umask=umask)
        wait_until(lambda: self.socket.exists() and self._metrics_answer(), what="the extra agent")

    def _metrics_answer(self) -> bool:
        try:
            self.metrics()
            return True
        except OSError:
            return False

    def metrics(self) -> str:
        return urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).read().decode()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def agent_with(secure: SecureCluster, tmp_path: Path) -> Iterator:
    started: list[Agent] = []

    def start(socket_path: Path | None = None, umask: int = 0o022, **settings: object) -> Agent:
        directory = tmp_path / f"agent{len(started)}"
        directory.mkdir()
        started.append(Agent(secure, directory, socket_path, umask, **settings))
        return started[-1]
    yield start
    for agent in started:
        agent.stop()


def exchange(path: Path, methods: list[str]) -> list[tuple[str, str]]:
    """Send a request frame per method on one connection, a batch at a time; the (code,
    message) of each answer, "OK" for a message."""
    answers = []
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(path))
        s.settimeout(30)
        reader = s.makefile("rb")
        for start in range(0, len(methods), BATCH):
            batch = methods[start:start + BATCH]
            s.sendall(b"".join(wire.request_frame(m, b"") for m in batch))
            for _ in batch:
                payload = reader.read(wire.frame_length(reader.read(wire.HEADER_SIZE)))
                answers.append(wire.parse_error(payload) if payload[:1] == wire.ERROR else ("OK", ""))
    return answers


def agent_requests(page: str) -> dict[tuple[str, str], float]:
    """hpcq_agent_request_duration_seconds_count by (method, code)."""
    counts = {}
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            if sample.name == "hpcq_agent_request_duration_seconds_count":
                counts[(sample.labels["method"], sample.labels["code"])] = sample.value
    return counts


def page_counting(agent: Agent, series: tuple[str, str], count: int) -> str:
    """The agent's page once it counts `count` requests in `series` (a request is counted
    just after its answer is sent)."""
    def page() -> str | None:
        text = agent.metrics()
        return text if agent_requests(text).get(series) == count else None
    return wait_until(page, what=f"{count} requests counted as {series}")


def test_the_agent_makes_its_socket_directory_no_one_else_may_write_to(agent_with, tmp_path) -> None:
    """Whatever the umask: in a directory others could write to, they could put a socket
    of their own in the agent's place."""
    agent = agent_with(socket_path=tmp_path / "run" / "hpcq" / "agent.sock", umask=0)
    for directory in (tmp_path / "run", tmp_path / "run" / "hpcq"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o755, directory
    assert stat.S_IMODE(agent.socket.stat().st_mode) == 0o666   # every local user may call it


def test_invented_methods_do_not_grow_the_agents_metrics(agent_with) -> None:
    agent = agent_with(rate=1e6, burst=1_000_000)
    warm_up = exchange(agent.socket, [f"/warm/up{i}" for i in range(20)])
    assert {code for code, _ in warm_up} == {"UNIMPLEMENTED"}
    before = page_counting(agent, ("other", "UNIMPLEMENTED"), 20)

    answers = exchange(agent.socket, [f"/hpcq.v1.Jobs/Invented{i}" for i in range(FLOOD)])

    after = page_counting(agent, ("other", "UNIMPLEMENTED"), FLOOD + 20)
    assert [code for code, _ in answers] == ["UNIMPLEMENTED"] * FLOOD
    assert abs(len(after) - len(before)) < SLACK, f"/metrics grew from {len(before)} to {len(after)} bytes"
    assert not any("Invented" in method or "warm" in method for method, _ in agent_requests(after))


def test_an_unknown_method_is_echoed_back_cut_short(agent_with) -> None:
    agent = agent_with(rate=1e6, burst=1_000_000)
    [(code, message)] = exchange(agent.socket, ["/x/" + "y" * 60_000])
    assert code == "UNIMPLEMENTED"
    assert len(message) < 200


def test_the_rate_limit_comes_before_the_method_lookup(agent_with) -> None:
    agent = agent_with(rate=0.001, burst=3)
    codes = [code for code, _ in exchange(agent.socket, [f"/no/such{i}" for i in range(6)])]
    assert codes == ["UNIMPLEMENTED"] * 3 + ["RESOURCE_EXHAUSTED"] * 3
    counts = agent_requests(page_counting(agent, ("other", "RESOURCE_EXHAUSTED"), 3))
    assert counts == {("other", "UNIMPLEMENTED"): 3, ("other", "RESOURCE_EXHAUSTED"): 3}


SBATCH_TOO_LARGE = ("sbatch: error: Batch job submission failed: Pathname of a file, directory or other "
                    "parameter too long\n", 1)          # what Debian's Slurm 22.05 prints at 5 and 20 MiB
QSUB_TOO_LARGE = ("qsub: jobscript size exceeded the jobscript_max_size\n", 15175 % 256)  # PBSE_JOBSCRIPTMAXSIZE


@pytest.fixture(scope="module")
def big_scripts(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Scripts of 5 MiB (over ctld's 4 MiB limit) and 20 MiB (over the agent's 16 MiB frame)."""
    scripts = {}
    for mib in (5, 20):
        path = tmp_path_factory.mktemp("big") / f"big{mib}.sh"
        line = "#" + "x" * 99 + "\n"
        path.write_text("#!/bin/sh\n" + line * (mib * 1024 * 1024 // len(line)) + "true\n")
        scripts[mib] = path
    return scripts


@pytest.mark.parametrize("way", ["agent", "certificate"])
@pytest.mark.parametrize("mib", [5, 20])
@pytest.mark.parametrize("command, expected", [("sbatch", SBATCH_TOO_LARGE), ("qsub", QSUB_TOO_LARGE)])
def test_an_oversized_script_gets_one_line_in_the_dialects_words(secure: SecureCluster, big_scripts, way, mib,
                                                                   command, expected) -> None:
    before = secure.next_job_id()
    # HPCQ_AGENT_SOCKET set but empty: no agent, the [client] certificate straight to ctld.
    env = {} if way == "agent" else {"HPCQ_AGENT_SOCKET": ""}
    result = secure.cluster.run(command, str(big_scripts[mib]), env=env, check=False)
    assert (result.stderr, result.returncode) == expected
    assert result.stdout == ""
    assert secure.next_job_id() == before
