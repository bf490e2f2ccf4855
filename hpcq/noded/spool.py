"""The node's spool: one directory per job attempt, the record that outlives noded.

Layout::

    <spool_dir>/jobs/<job_id>.<attempt>/
        job.pb           the serialized Job, as ctld sent it
        script           the job script, owned by the job's user
        nodefile         PBS_NODEFILE
        supervisor.json  {pid, start_time_ticks}, then also {session_id, start_time} once
                         the job runs. Created exclusively, by the supervisor before it
                         starts the job or by a restarted noded that finds a launch cut
                         short (pid 0): so a job cannot start after noded declared it failed
        cancel.json      {grace_seconds}: written by kill() just before it TERMs the supervisor
        status.json      the finished outcome; its presence means "ended"

Every JSON file is written whole or not at all (a temporary file, then rename or
link), so a reader never sees half a record, whoever crashes when. Only the standard library and
the generated protobuf modules are imported: the launcher and the supervisors load
this module too.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpcq.api import jobs_pb2, nodes_pb2

_ATTEMPT_NAME = re.compile(r"^(\d+)\.(\d+)$")

# World-traversable but not listable: a job running as its user must reach its own
# script and node file, and must not be able to see or replace anything else.
DIR_MODE = 0o711


@dataclass(frozen=True)
class AttemptDir:
    """The spool directory of one job attempt and the files in it."""

    path: Path
    job_id: int
    attempt: int

    @property
    def key(self) -> tuple[int, int]:
        return (self.job_id, self.attempt)

    @property
    def job(self) -> Path:
        return self.path / "job.pb"

    @property
    def script(self) -> Path:
        return self.path / "script"

    @property
    def nodefile(self) -> Path:
        return self.path / "nodefile"

    @property
    def supervisor(self) -> Path:
        return self.path / "supervisor.json"

    @property
    def cancel(self) -> Path:
        return self.path / "cancel.json"

    @property
    def status(self) -> Path:
        return self.path / "status.json"


def jobs_dir(spool_dir: Path) -> Path:
    return spool_dir / "jobs"


def attempt_dir(spool_dir: Path, job_id: int, attempt: int) -> AttemptDir:
    return AttemptDir(jobs_dir(spool_dir) / f"{job_id}.{attempt}", job_id, attempt)


def scan(spool_dir: Path) -> list[AttemptDir]:
    """Every attempt directory in the spool, in job order; stray names are skipped."""
    found = []
    try:
        entries = list(os.scandir(jobs_dir(spool_dir)))
    except FileNotFoundError:
        return []
    for entry in entries:
        m = _ATTEMPT_NAME.match(entry.name)
        if m and entry.is_dir(follow_symlinks=False):
            found.append(AttemptDir(Path(entry.path), int(m[1]), int(m[2])))
    return sorted(found, key=lambda a: a.key)


def write_json(path: Path, data: dict[str, Any], *, durable: bool = False) -> None:
    """Replace `path` atomically. `durable` also fsyncs the data before the rename:
    worth it for a job's final status, not for files that die with the process."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, json_line(data))
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def publish_json(path: Path, data: dict[str, Any]) -> bool:
    """Create `path` whole, only if it does not exist yet (link() is atomic and exclusive).
    False when somebody else created it first."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(json_line(data))
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True


def json_line(data: dict[str, Any]) -> bytes:
    """One message on the launcher's pipes: compact JSON and a newline."""
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


def read_json(path: Path) -> dict[str, Any] | None:
    """The record, or None if there is none (or it cannot be parsed: never written whole)."""
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except (FileNotFoundError, ValueError):
        return None


def process_start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since
    boot, or None if there is no such process. With the pid it names one process for
    good, which is how supervisor.json is checked against a recycled pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses; the fields after it are plain.
    return int(data[data.rindex(b")") + 2:].split()[19])


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# --- outcomes as JSON ---------------------------------------------------------------------

_OUTCOME_NUMBERS = ("exit_code", "signal", "start_time", "end_time", "session_id", "cpu_seconds", "max_rss_kb")


def outcome_to_json(outcome: nodes_pb2.JobOutcome) -> dict[str, Any]:
    """A readable record: the state is spelled out, so an admin can `cat` a status file."""
    data: dict[str, Any] = {
        "job_id": outcome.job_id,
        "attempt": outcome.attempt,
        "running": outcome.running,
        "state": jobs_pb2.JobState.Name(outcome.state),
        "reason": outcome.reason,
    }
    data.update((name, getattr(outcome, name)) for name in _OUTCOME_NUMBERS)
    return data


def outcome_from_json(data: dict[str, Any]) -> nodes_pb2.JobOutcome:
    outcome = nodes_pb2.JobOutcome(
        job_id=data["job_id"], attempt=data["attempt"], running=data.get("running", False),
        state=jobs_pb2.JobState.Value(data.get("state", "JOB_STATE_UNSPECIFIED")),
        reason=data.get("reason", ""))
    for name in _OUTCOME_NUMBERS:
        if name in data:
            setattr(outcome, name, data[name])
    return outcome
