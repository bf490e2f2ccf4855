"""The calling process as a job records it: directory, host, user, environment, time.

getpass and socket (a few ms of start-up) are not imported to learn the user or the host
name: login_name and short_hostname read the answers where those modules would."""
from __future__ import annotations

import os
import time
from collections import namedtuple
from collections.abc import Mapping


class SubmitContext(namedtuple("SubmitContext", "cwd host user environ now uid", defaults=(None,))):
    """The facts about the submitting process a JobSpec records; a parameter so that
    parsing is a pure function in tests. `uid` is the real uid (None: not known)."""
    __slots__ = ()
    cwd: str
    host: str
    user: str
    environ: Mapping[str, str]
    now: float
    uid: int | None

    @classmethod
    def current(cls) -> SubmitContext:
        return cls(cwd=os.getcwd(), host=short_hostname(), user=login_name(),
                   environ=submit_environment(), now=time.time(), uid=os.getuid())

    def account_name(self) -> str:
        """The login name of the real uid (what ctld will know the caller as), else `user`."""
        if self.uid is None:
            return self.user
        import pwd
        try:
            return pwd.getpwuid(self.uid).pw_name
        except KeyError:
            return self.user

    def path(self, value: str) -> str:
        """An absolute path, relative ones taken from the submit directory. Raises
        ValueError for a path no system call would take (a NUL byte)."""
        if "\0" in value:
            raise ValueError(f"{value!r}: a path cannot hold a NUL byte")
        return os.path.normpath(os.path.join(self.cwd, os.path.expanduser(value)))


def user_ids(user: str) -> tuple[int | None, str, int | None]:
    """(uid, primary group name, gid) of a login name on this host, None where unknown
    (the job's owner may have no account here)."""
    import grp
    import pwd
    try:
        entry = pwd.getpwnam(user)
    except (KeyError, ValueError):
        return None, "", None
    try:
        group = grp.getgrgid(entry.pw_gid).gr_name
    except KeyError:
        group = str(entry.pw_gid)
    return entry.pw_uid, group, entry.pw_gid


def short_hostname() -> str:
    return os.uname().nodename.split(".")[0]      # what gethostname() returns


def login_name() -> str:
    """getpass.getuser()'s answer: $LOGNAME, $USER, $LNAME or $USERNAME, else the
    password database's name of this uid (else the uid)."""
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if os.environ.get(variable):
            return os.environ[variable]
    import pwd
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def submit_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment to send with a job: every variable whose name and value are
    text (protobuf strings cannot carry the undecodable bytes os.environ keeps)."""
    source = os.environ if environ is None else environ
    out = {}
    for name, value in source.items():
        try:
            name.encode("utf-8")
            value.encode("utf-8")
        except UnicodeEncodeError:
            continue
        out[name] = value
    return out
