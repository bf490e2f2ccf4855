"""The store's password stays in the configuration file: ctld's log, `hpcqctl status`,
`hpcqctl config show` and ctld's start-up errors show the URL with *** in its place.

A real PostgreSQL server (tests/pgserver.py). It trusts loopback connections, so it
ignores the password; the URL carries it all the same, which is what is watched here."""
from __future__ import annotations

import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpcq import config as configuration
from tests.cluster import BIN, Cluster, start_cluster

pytestmark = pytest.mark.integration

PASSWORD = "Pg-s3cret-9d1f"


@pytest.fixture(scope="module")
def cluster(postgres, tmp_path_factory) -> Iterator[tuple[Cluster, str]]:
    url = postgres.create_database("hpcq_password").replace("://hpcq@", f"://hpcq:{PASSWORD}@")
    home = tmp_path_factory.mktemp("hpcq-store-password")
    started = start_cluster(home, nodes=1, database=url)
    try:
        yield started, url
    finally:
        started.run("hpcqctl", "down", check=False)


def test_the_password_is_in_no_log_and_no_output(cluster):
    c, url = cluster
    conf = c.home / "hpcq.toml"
    assert PASSWORD in conf.read_text()  # it is configured, and the config is the owner's alone
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    shown = url.replace(PASSWORD, "***")

    outputs = {argv: c.run(*argv) for argv in [("hpcqctl", "status"), ("hpcqctl", "status", "--json"),
                                               ("hpcqctl", "config", "show")]}
    assert f'database = "{shown}"' in outputs["hpcqctl", "config", "show"].stdout.splitlines()
    assert f"(store {shown})" in c.log("ctld")
    said = {" ".join(argv): done.stdout + done.stderr for argv, done in outputs.items()}
    said.update({str(p.relative_to(c.home)): p.read_text(errors="replace") for p in (c.home / "log").iterdir()})
    assert [where for where, text in said.items() if PASSWORD in text] == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("where, reason", [
    ("127.0.0.1:{closed}/hpcq_password", "Connection refused"),          # nobody listens there
    ("127.0.0.1:{port}/no_such_database", 'database "no_such_database" does not exist'),
    ("127.0.0.1:not-a-port/hpcq_password", "invalid literal for int()"),  # not even a URL SQLAlchemy reads
])
def test_a_store_ctld_cannot_open_is_one_line_without_the_password(cluster, tmp_path, where, reason):
    c, url = cluster
    port = url.split("@127.0.0.1:", 1)[1].split("/", 1)[0]
    bad = f"postgresql+psycopg://hpcq:{PASSWORD}@" + where.format(closed=_closed_port(), port=port)
    config = configuration.load(c.home / "hpcq.toml")
    # Its own state directory and no metrics port: nothing is shared with the running ctld.
    config.ctld.database, config.ctld.state_dir, config.ctld.metrics_listen = bad, str(tmp_path / "state"), ""
    config.ctld.listen = f"127.0.0.1:{_closed_port()}"
    conf = tmp_path / "ctld.toml"
    conf.write_text(configuration.dump(config))
    log_file = tmp_path / "ctld.log"
    done = subprocess.run([str(Path(BIN) / "hpcq-ctld"), "-c", str(conf), "--log-file", str(log_file)],
                          capture_output=True, text=True, timeout=60, env=c.env)
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith(f"hpcq-ctld: {bad.replace(PASSWORD, '***')}: ") and reason in line
    assert PASSWORD not in done.stdout + done.stderr + (log_file.read_text() if log_file.exists() else "")
