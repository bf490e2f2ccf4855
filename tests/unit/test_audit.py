"""The audit log: one JSON line per event, append-only, 0600."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from hpcq.api import jobs_pb2
from hpcq.ctld.audit import AuditLog


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_event_is_one_json_line_with_who_and_when(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as audit:
        audit.record("submit", "alice", "user", via_host="login1", job_ids=[1, 2], outcome="ok")
        audit.record("refused", "bob\nadmin", "user", method="/hpcq.v1.Admin/DrainNode",
                     reason="user 'bob' may not call DrainNode")

    first, second = lines(path)
    assert first["event"] == "submit" and first["principal"] == "alice" and first["role"] == "user"
    assert first["via_host"] == "login1" and first["job_ids"] == [1, 2] and first["outcome"] == "ok"
    assert first["time"].endswith("Z") and first["time"][10] == "T"
    assert second["principal"] == "bob\nadmin"          # escaped: still one line
    assert len(path.read_text().splitlines()) == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_log_is_appended_to_never_truncated(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text('{"event":"earlier"}\n')
    os.chmod(path, 0o644)
    with AuditLog(path) as audit:
        audit.record("cancel", "alice", "user", job_ids=jobs_pb2.JobActionRequest(job_ids=[7]).job_ids)

    assert [e["event"] for e in lines(path)] == ["earlier", "cancel"]
    assert lines(path)[1]["job_ids"] == [7]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.O_APPEND & __import__("fcntl").fcntl(AuditLog(path)._fd, __import__("fcntl").F_GETFL)


def test_reserved_keys_cannot_be_overwritten(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "a") as audit, pytest.raises(ValueError, match="principal"):
        audit.record("submit", "alice", "user", principal="root")


def test_a_failed_write_is_counted_not_raised(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "a")
    audit.close()
    audit.record("submit", "alice", "user")
    assert audit.failures == 1


def test_reopen_follows_a_rotated_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as audit:
        audit.record("a", "u", "user")
        path.rename(tmp_path / "audit.jsonl.1")
        audit.reopen()
        audit.record("b", "u", "user")
    assert [e["event"] for e in lines(path)] == ["b"]
