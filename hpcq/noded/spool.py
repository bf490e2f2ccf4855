"""The node's spool: one directory per job attempt, the record that outlives noded.

Layout::

    <spool_dir>/jobs/<job_id>.<attempt>/     root's, group the job's, 0710 (0700 in user mode)
        script           the job script, the job's user's, 0500
        nodefile         PBS_NODEFILE, the job's user's, 0600
        supervisor.json  {pid, start_time_ticks, cgroup}, then also {session_id, start_time,
                         output, uid, gid, reaped_before} once the job runs (cgroup: the name
                         of the job's cgroups, "" for none, absent from an earlier hpcq's
                         record: hpcq.noded.enforce; output: its stdout and stderr paths;
                         reaped_before: the user and system CPU seconds of the processes of
                         the supervisor's earlier jobs). Created exclusively,
                         by the supervisor before it starts the job or by a restarted noded
                         that finds a launch cut short (pid 0): so a job cannot start after
                         noded declared it failed
        cancel.json      {grace_seconds}: written by kill() just before it TERMs the supervisor,
                         which acts on a SIGTERM only if the attempt it runs has one (the
                         signal may come late, when it already runs another attempt)
        suspend.json     {suspended}: written by suspend() just before it sends the supervisor
                         SIGUSR1, on which it stops (or continues) the job and its walltime
        status.json      the finished outcome; its presence means "ended"
                         (these records: noded's, 0600)

<spool_dir> and jobs/ are 0711: a job passes through to its own directory and lists
nothing. Its directory lets in only the job's group, which lists nothing either; the
job's user may read its script and node file, and may change no file of noded's, so
noded never follows a name the user planted.

Every JSON file is written whole or not at all (a temporary file, then rename or
link), so a reader never sees half a record, whoever crashes when. Nothing is fsynced:
the spool keeps an outcome until ctld has stored it, across restarts of noded or ctld,
and the page cache outlives those; only the machine's own crash could lose a file, and
that crash takes the node's jobs with it (ctld then hears within milliseconds, or
declares the node lost). An fsync costs a job as much CPU as all its other files, and a
millisecond of its time.

Only the standard library is imported: the launcher and the supervisors load this
module too, and each page they map is a page every supervisor's fork and exit must
handle.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from hpcq import private_files

TYPE_CHECKING = False  # typing (and dataclasses) would add megabytes to every supervisor's fork
if TYPE_CHECKING:
    from typing import Any

_ATTEMPT_NAME = re.compile(r"^(\d+)\.(\d+)$")

# The spool and jobs/: world-traversable but not listable: a job running as its user
# must reach its own script and node file, and must not be able to see anything else.
DIR_MODE = private_files.TRAVERSABLE_DIR
# An attempt's directory: traversable by the job's group only (see `give_to_job`).
ATTEMPT_DIR_MODE = 0o710


class AttemptDir:
    """The spool directory of one job attempt and the files in it. The files' paths are
    strings: a supervisor pays for every bit of pathlib it runs (see hpcq.noded.jobd)."""

    __slots__ = ("path", "job_id", "attempt", "_dir")

    def __init__(self, path: Path, job_id: int, attempt: int) -> None:
        self.path, self.job_id, self.attempt = path, job_id, attempt
        self._dir = os.fspath(path)

    @classmethod
    def at(cls, path: str) -> AttemptDir:
        job_id, _, attempt = os.path.basename(path).partition(".")
        return cls(Path(path), int(job_id), int(attempt))

    @property
    def key(self) -> tuple[int, int]:
        return (self.job_id, self.attempt)

    @property
    def script(self) -> str:
        return self._dir + "/script"

    @property
    def nodefile(self) -> str:
        return self._dir + "/nodefile"

    @property
    def supervisor(self) -> str:
        return self._dir + "/supervisor.json"

    @property
    def cancel(self) -> str:
        return self._dir + "/cancel.json"

    @property
    def status(self) -> str:
        return self._dir + "/status.json"

    @property
    def suspend(self) -> str:
        return self._dir + "/suspend.json"


def jobs_dir(spool_dir: Path) -> Path:
    return spool_dir / "jobs"


def attempt_dir(spool_dir: Path, job_id: int, attempt: int) -> AttemptDir:
    return AttemptDir(jobs_dir(spool_dir) / f"{job_id}.{attempt}", job_id, attempt)


def prepare(spool_dir: Path) -> None:
    """Make the spool and its jobs/ directory (0711), and narrow anything below that an
    earlier noded (or an admin) left open to others. Raises PrivateFileError if that
    cannot be done."""
    private_files.make_dir(spool_dir, DIR_MODE)
    jobs = jobs_dir(spool_dir)
    private_files.make_dir(jobs, DIR_MODE)
    os.chmod(jobs, DIR_MODE)  # ours alone: jobs must pass through it, whatever it was
    private_files.narrow_tree(jobs)


def make_attempt_dir(directory: AttemptDir) -> None:
    """Create the attempt's directory, noded's alone until `give_to_job`. Raises
    FileExistsError if it is there already."""
    os.mkdir(directory.path, 0o700)


def give_to_job(directory: AttemptDir, gid: int) -> None:
    """Let the job's group (and so the job) pass into its attempt's directory, where its
    user owns the script and node file; nobody else may enter. (A noded that is not root
    runs only its own user's jobs: its 0700 lets them in already.)"""
    if os.geteuid() == 0:
        os.chown(directory.path, -1, gid)
        os.chmod(directory.path, ATTEMPT_DIR_MODE)


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


def write_json(path: Path | str, data: dict[str, Any]) -> None:
    """Replace `path` atomically."""
    os.replace(_write_aside(path, data), path)


def publish_json(path: Path | str, data: dict[str, Any]) -> bool:
    """Create `path` whole, only if it does not exist yet (link() is atomic and exclusive).
    False when somebody else created it first."""
    tmp = _write_aside(path, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True


def _write_aside(path: Path | str, data: dict[str, Any]) -> str:
    """`data` in a temporary file beside `path`, to be renamed or linked into place."""
    head, name = os.path.split(path)
    tmp = os.path.join(head, f".{name}.{os.getpid()}.tmp")
    fd = private_files.open_file(tmp, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, json_line(data))
    finally:
        os.close(fd)
    return tmp


def json_line(data: dict[str, Any]) -> bytes:
    """One message on the launcher's pipes: compact JSON and a newline."""
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


def read_json(path: Path | str) -> dict[str, Any] | None:
    """The record, or None if there is none (or it cannot be parsed: never written whole)."""
    try:
        record: dict[str, Any] = json.loads(read_bytes(path))
    except (FileNotFoundError, ValueError):
        return None
    return record


def read_bytes(path: Path | str) -> bytes:
    """A small file whole, with no file object: these reads are on every job's path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def process_start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since
    boot, or None if there is no such process. With the pid it names one process for
    good, which is how supervisor.json is checked against a recycled pid."""
    try:
        data = read_bytes(f"/proc/{pid}/stat")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses; the fields after it are plain.
    return int(data[data.rindex(b")") + 2:].split()[19])


def remove(path: Path | str) -> None:
    import shutil  # rarely needed in a supervisor: not loaded into every one
    shutil.rmtree(path, ignore_errors=True)


def remove_attempt(directory: AttemptDir) -> None:
    """Remove an attempt's directory: its known files by name, then the directory;
    rmtree (which lists, and works on descriptors) only for what else is left."""
    for path in (directory.status, directory.supervisor, directory.script, directory.nodefile, directory.cancel):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    try:
        os.rmdir(directory.path)
    except FileNotFoundError:
        pass
    except OSError:
        remove(directory.path)
