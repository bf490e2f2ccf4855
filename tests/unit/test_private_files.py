"""hpcq.private_files: owner-only files whatever the umask, and narrowing with one warning line."""
from __future__ import annotations

import logging
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpcq import daemon, logs, private_files
from hpcq.ctld.audit import AuditLog
from hpcq.ctld.store.writer import Store
from tests import localusers


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def umask_000() -> Iterator[None]:
    """The widest umask there is: the modes below must not depend on it."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


class Warnings:
    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    @property
    def lines(self) -> list[str]:
        return [r.getMessage() for r in self.caplog.records if r.name == "hpcq.private_files"]


@pytest.fixture
def warnings(caplog: pytest.LogCaptureFixture) -> Warnings:
    caplog.set_level(logging.WARNING, logger="hpcq.private_files")
    return Warnings(caplog)


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Tests that let hpcq.logs set up the root logger get the test's own back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077, 0o277])
def test_a_new_file_gets_exactly_its_mode_whatever_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        os.close(private_files.open_file(tmp_path / "f", os.O_WRONLY))
        os.close(private_files.open_file(tmp_path / "script", os.O_WRONLY, 0o500))
        private_files.make_dir(tmp_path / "d")
        private_files.make_dir(tmp_path / "t", private_files.TRAVERSABLE_DIR)
    finally:
        os.umask(old)
    assert [mode(tmp_path / n) for n in ("f", "script", "d", "t")] == [0o600, 0o500, 0o700, 0o711]


def test_open_file_leaves_an_existing_file_and_its_content(tmp_path, umask_000):
    path = tmp_path / "f"
    path.write_bytes(b"kept\n")
    path.chmod(0o640)
    fd = private_files.open_file(path, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"more\n")
    os.close(fd)
    assert path.read_bytes() == b"kept\nmore\n" and mode(path) == 0o640


def test_missing_parents_are_made_0755_not_0777(tmp_path, umask_000):
    private_files.make_dir(tmp_path / "a" / "b" / "state")
    assert (mode(tmp_path / "a"), mode(tmp_path / "a" / "b"), mode(tmp_path / "a" / "b" / "state")) == \
        (0o755, 0o755, 0o700)


def test_narrow_takes_only_read_and_write_of_others_and_says_so_once(tmp_path, warnings):
    (tmp_path / "db").write_bytes(b"")
    (tmp_path / "db").chmod(0o664)
    (tmp_path / "spool").mkdir()
    (tmp_path / "spool").chmod(0o755)
    assert private_files.narrow(tmp_path / "db") and private_files.narrow(tmp_path / "spool")
    assert (mode(tmp_path / "db"), mode(tmp_path / "spool")) == (0o600, 0o711)  # traversal stays
    assert warnings.lines == [f"{tmp_path / 'db'} was open to others (mode 0664); narrowed to 0600",
                              f"{tmp_path / 'spool'} was open to others (mode 0755); narrowed to 0711"]
    assert not private_files.narrow(tmp_path / "db") and not private_files.narrow(tmp_path / "absent")
    assert len(warnings.lines) == 2


def test_narrow_tree_reaches_every_level_and_follows_no_symlink(tmp_path, warnings):
    outside = tmp_path / "outside"
    outside.write_bytes(b"")
    outside.chmod(0o644)
    root = tmp_path / "spool"
    (root / "jobs" / "1.0").mkdir(parents=True)
    (root / "jobs" / "1.0" / "status.json").write_bytes(b"{}")
    (root / "jobs" / "1.0" / "status.json").chmod(0o644)
    (root / "jobs" / "1.0" / "link").symlink_to(outside)
    (root / "jobs").chmod(0o777)
    for directory in (root, root / "jobs" / "1.0"):
        directory.chmod(0o750)
    assert private_files.narrow_tree(root) == 4
    assert [mode(p) for p in (root, root / "jobs", root / "jobs" / "1.0", root / "jobs" / "1.0" / "status.json")] \
        == [0o710, 0o711, 0o710, 0o600]
    assert mode(outside) == 0o644


def test_write_file_narrows_what_it_replaces(tmp_path, warnings):
    path = tmp_path / "hpcq.toml"
    path.write_text("old")
    path.chmod(0o644)
    private_files.write_file(path, b"new")
    assert path.read_bytes() == b"new" and mode(path) == 0o600 and len(warnings.lines) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a second uid")
def test_a_file_it_cannot_narrow_is_a_one_line_error():
    where = Path(tempfile.mkdtemp(prefix="hpcq-narrow."))  # pytest's tmp_path is closed to nobody
    where.chmod(0o711)
    path = where / "hpcq.db"
    path.write_bytes(b"")
    path.chmod(0o644)
    try:
        nobody = pwd.getpwnam("nobody")
        message = localusers.call_as(nobody.pw_uid, nobody.pw_gid,
                                     lambda: _error_of(lambda: private_files.narrow(path)))
        assert message == (f"{path}: mode 0644 lets others read or write it, and it cannot be narrowed "
                           f"(not its owner): chmod go-rw {path}")
        assert mode(path) == 0o644
    finally:
        shutil.rmtree(where)


def _error_of(action) -> str | None:
    try:
        action()
    except private_files.PrivateFileError as e:
        return str(e)
    return None


def test_a_daemon_that_cannot_narrow_prints_one_line_and_exits_1(tmp_path, capsys, root_logging):
    class Args:
        config, log_format, log_level, log_file = None, "text", "info", None

    async def serve(config):
        raise private_files.PrivateFileError("/x/hpcq.db: mode 0644 lets others read or write it, ...")

    config_file = tmp_path / "hpcq.toml"
    config_file.write_text("[ctld]\nca = 'a'\ncert = 'b'\nkey = 'c'\n")
    Args.config = str(config_file)
    assert daemon.run("hpcq-ctld", Args, "ctld", serve) == 1
    assert capsys.readouterr().err == "hpcq-ctld: /x/hpcq.db: mode 0644 lets others read or write it, ...\n"


# --- the daemons' own files ---------------------------------------------------------------

def test_sqlite_database_wal_and_shm_are_0600_whatever_the_umask(tmp_path, umask_000):
    store = Store(f"sqlite:///{tmp_path / 'hpcq.db'}")
    store.open()
    try:
        assert (tmp_path / "hpcq.db-wal").exists() and (tmp_path / "hpcq.db-shm").exists()
        assert {p.name: mode(p) for p in tmp_path.iterdir()} == \
            {"hpcq.db": 0o600, "hpcq.db-wal": 0o600, "hpcq.db-shm": 0o600}
    finally:
        store.close()


def test_a_store_left_open_to_others_is_narrowed_on_open(tmp_path, warnings):
    db = tmp_path / "hpcq.db"
    for name in ("hpcq.db", "hpcq.db-wal"):
        (tmp_path / name).write_bytes(b"")
        (tmp_path / name).chmod(0o644)
    Store(f"sqlite:///{db}").close()
    assert mode(db) == mode(tmp_path / "hpcq.db-wal") == 0o600
    assert [m.split(" was open")[0] for m in warnings.lines] == [str(db), f"{db}-wal"]


def test_audit_log_is_created_0600_and_narrowed_on_reopen(tmp_path, umask_000, warnings):
    path = tmp_path / "audit.log"
    for rotated in ("audit.log.1", "audit.log-20250101.gz", "other.log"):
        (tmp_path / rotated).write_bytes(b"")
        (tmp_path / rotated).chmod(0o644)
    with AuditLog(path) as audit:
        assert [mode(tmp_path / name) for name in ("audit.log.1", "audit.log-20250101.gz", "other.log")] == \
            [0o600, 0o600, 0o644]
        assert mode(path) == 0o600
        path.rename(tmp_path / "audit.log.1")
        (tmp_path / "audit.log").write_bytes(b"")  # as logrotate's `create` with a wide mode
        path.chmod(0o644)
        audit.reopen()
        audit.record("submit", "alice", "user")
    assert mode(path) == 0o600 and b'"event":"submit"' in path.read_bytes()
    assert len(warnings.lines) == 3


def test_an_audit_log_that_cannot_be_reopened_keeps_the_open_one(tmp_path, caplog):
    path = tmp_path / "audit.log"
    with AuditLog(path) as audit:
        path.rename(tmp_path / "audit.log.1")
        path.mkdir()  # in the way of the new file
        audit.reopen()
        audit.record("cancel", "bob", "user")
    assert b'"event":"cancel"' in (tmp_path / "audit.log.1").read_bytes()
    assert [r.levelname for r in caplog.records if "cannot reopen" in r.getMessage()] == ["ERROR"]


def test_log_file_and_rotations_are_0600(tmp_path, umask_000, root_logging):
    log_file = tmp_path / "ctld.log"
    (tmp_path / "ctld.log.5").write_text("an old rotation\n")
    (tmp_path / "ctld.log.5").chmod(0o644)
    logs.setup("info", file=str(log_file))
    handler = logging.getLogger().handlers[0]
    logging.getLogger("hpcq.test").info("first")
    handler.doRollover()
    logging.getLogger("hpcq.test").info("second")
    handler.flush()
    assert {p.name: mode(p) for p in tmp_path.iterdir()} == {"ctld.log": 0o600, "ctld.log.1": 0o600,
                                                            "ctld.log.5": 0o600}
    assert "ctld.log.5 was open to others (mode 0644); narrowed to 0600" in (tmp_path / "ctld.log.1").read_text()
    assert "second" in log_file.read_text()


def test_hpcqctl_makes_its_directories_and_config_private_whatever_the_umask(tmp_path):
    """The local cluster's own files, without starting it: ensure_files under umask 000
    (tests/security/test_files_at_rest.py covers the running cluster's)."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; os.umask(0); from hpcq.ctl.local import LocalCluster; "
         "from pathlib import Path; LocalCluster(Path(os.environ['H'])).ensure_files(1)"],
        env={**os.environ, "H": str(tmp_path / "home")}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    home = tmp_path / "home"
    assert mode(home) == 0o711
    assert {p.name: mode(p) for p in home.iterdir()} == {"hpcq.toml": 0o600, "log": 0o700, "pki": 0o700,
                                                         "run": 0o711, "spool": 0o711}
