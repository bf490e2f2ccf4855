"""Files that hold users' data: created owner-only whatever the umask, narrowed when found wider.

Every daemon's database, spool records, audit and log files are made with `open_file`
(files, 0600; SQLite gives the WAL and SHM its database's mode) and `make_dir`
(directories, 0700, or 0711 where jobs of other users must pass through). The mode is set
on the open descriptor after creation, so neither a umask of 000 nor one that would take
the owner's own bits changes it.

On start a daemon checks what it already has with `narrow` / `narrow_tree`: a file or
directory that group or others may read or write loses those bits, and one WARNING line
says so. One it cannot change (another user's, a read-only file system) stops the
daemon with `PrivateFileError`, a one-line message. Execute (traverse) bits are left
alone: they let a job reach its own files by name, and show nothing.

Only the standard library at import (logging when something is said): the launcher,
and with it every job's supervisor, loads this module.
"""
from __future__ import annotations

import errno
import os
import stat

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
TRAVERSABLE_DIR = 0o711
"""A directory others may pass through to a file of their own below, but not list."""
EXPOSED = 0o066
"""Read or write by group or others."""
_PARENT_DIR = 0o755  # a missing parent made on the way: like mkdir -p, without a umask of 000's 0777

_OPEN_TO_CHANGE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class PrivateFileError(Exception):
    """A file or directory is open to others and this process cannot narrow it."""


def open_file(path: str | os.PathLike[str], flags: int, mode: int = PRIVATE_FILE) -> int:
    """os.open(path, flags | O_CREAT | O_CLOEXEC); a file this call creates gets exactly
    `mode`. An existing file keeps its mode: `narrow` is the check for those."""
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    except FileExistsError:
        # Gone again meanwhile, it is created with at most `mode` (the umask only takes bits away).
        return os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # the umask cut O_CREAT's mode
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_file(path: str | os.PathLike[str], data: bytes, mode: int = PRIVATE_FILE) -> None:
    """Replace the content of `path` (created `mode` if new; an existing one is narrowed first)."""
    narrow(path)
    fd = open_file(path, os.O_WRONLY | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def make_dir(path: str | os.PathLike[str], mode: int = PRIVATE_DIR) -> None:
    """Create directory `path` with exactly `mode`, and missing parents with 0755 (not
    the 0777 a umask of 000 would leave them); an existing one is narrowed (`narrow`)."""
    path = os.path.abspath(path)
    missing = []
    parent = os.path.dirname(path)
    while not os.path.isdir(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    for directory in reversed(missing):
        _mkdir_exactly(directory, _PARENT_DIR)
    if not _mkdir_exactly(path, mode):
        narrow(path)


def _mkdir_exactly(path: str, mode: int) -> bool:
    """mkdir with exactly `mode`; False if the directory was there already."""
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        if os.path.isdir(path):
            return False
        raise
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fchmod(fd, mode)  # the umask cut mkdir's mode
    finally:
        os.close(fd)
    return True


def narrow(path: str | os.PathLike[str]) -> bool:
    """Take group and others' read and write bits off `path` (a regular file or a
    directory; a symlink or anything else is left as it is), with one WARNING line.
    True if it was narrowed; False if it needed nothing or does not exist. Raises
    PrivateFileError if it is open to others and cannot be changed."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)) or not info.st_mode & EXPOSED:
        return False
    old = stat.S_IMODE(info.st_mode)
    new = old & ~EXPOSED
    try:
        # The descriptor, not the name: a name swapped for a symlink meanwhile is not followed.
        fd = os.open(path, _OPEN_TO_CHANGE)
    except FileNotFoundError:
        return False
    except OSError as e:
        raise _cannot(path, old, e) from None
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino):
            return False  # replaced meanwhile: the replacement is checked when it is used
        os.fchmod(fd, new)
    except OSError as e:
        raise _cannot(path, old, e) from None
    finally:
        os.close(fd)
    import logging  # only here: the supervisors that load this module never get this far
    logging.getLogger("hpcq.private_files").warning(
        "%s was open to others (mode %04o); narrowed to %04o", os.fspath(path), old, new)
    return True


def narrow_tree(root: str | os.PathLike[str]) -> int:
    """`narrow` `root` and everything below it (symlinks are not followed). Returns how
    many were narrowed."""
    count = int(narrow(root))
    for directory, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            count += narrow(os.path.join(directory, name))
    return count


def _cannot(path: str | os.PathLike[str], mode: int, error: OSError) -> PrivateFileError:
    reason = "not its owner" if error.errno == errno.EPERM else error.strerror
    return PrivateFileError(f"{os.fspath(path)}: mode {mode:04o} lets others read or write it, and it cannot be "
                            f"narrowed ({reason}): chmod go-rw {os.fspath(path)}")
