"""How a shim fails: ShimError (the text and the exit code), and a failed call to ctld
in Slurm's or PBS's words and exit codes."""
from __future__ import annotations

from hpcq.errors import HpcqError


class ShimError(Exception):
    """A command fails: `text` goes to stderr as it stands (one or more lines), and the
    command exits with `exit_code`."""

    def __init__(self, text: str, exit_code: int) -> None:
        super().__init__(text)
        self.text = text
        self.exit_code = exit_code

    def with_line(self, line: str) -> ShimError:
        return ShimError(f"{self.text}\n{line}", self.exit_code)


def error_token(error: HpcqError) -> tuple[str, str]:
    """ctld's stable token and the rest of its message: ("UNKNOWN_QUEUE", "queue 'x' does not exist");
    ("", message) when the message carries no token."""
    token, sep, rest = error.message.partition(": ")
    if sep and token.isupper() and token.replace("_", "").isalpha():
        return token, rest
    return "", error.message


def script_too_large(error: HpcqError) -> bool:
    """A submit refused for its size, whatever the size: ctld's script limit (BAD_SPEC:
    "script: larger than ..."), or a request too large to travel at all (the agent's frame
    limit, grpc's message limit: TOO_LARGE)."""
    from hpcq.wire import TOO_LARGE

    token, detail = error_token(error)
    return token == TOO_LARGE or (token == "BAD_SPEC" and detail.startswith("script: larger than"))


# -- Slurm ----------------------------------------------------------------------------------

# How Slurm words the failures hpcq reports as gRPC codes; other codes show ctld's message.
_SLURM_TEXT = {
    "UNAVAILABLE": "Unable to contact slurm controller (connect failure)",
    "DEADLINE_EXCEEDED": "Socket timed out on send/recv operation",
    "PERMISSION_DENIED": "Access/permission denied",
}


def slurm_failure(prog: str, error: HpcqError, lead: str) -> ShimError:
    """A failed call as Slurm prints it: `lead` + Slurm's words, then ctld's own detail
    on a line of its own (what a user acts on), exit 1."""
    words = _SLURM_TEXT.get(error.code)
    if words is None:
        return ShimError(f"{lead}{error.message}", 1)
    lines = [f"{lead}{words}"]
    if error.message:
        lines.append(f"{prog}: error: {error.message}")
    return ShimError("\n".join(lines), 1)


# -- PBS --------------------------------------------------------------------------------------

# PBS error numbers (pbs_error.h); a command exits with the number modulo 256.
PBSE_UNKJOBID = 15001
PBSE_PERM = 15007
PBSE_BADATVAL = 15014
PBSE_BADSTATE = 15016
PBSE_UNKQUE = 15018
PBSE_BADCRED = 15019
PBSE_UNKRESC = 15035
PBSE_EXCQRESC = 15036
PBSE_HISTJOBID = 15139
PBSE_UNKSIG = 15013
PBSE_QUNOENB = 15021
PBSE_QACESS = 15022
PBSE_BADUSER = 15023
PBSE_NOSUP = 15029
PBSE_MAXQUED = 15046
PBSE_BADDEPEND = 15054
PBSE_UNKNODE = 15062
PBSE_JOBSCRIPTMAXSIZE = 15175
PBSE_ENTLIMCT = 15142
PBSE_MAXARRAYSIZE = 15107

_PBS_ERRNO = {
    "NOT_FOUND": PBSE_UNKJOBID,
    "PERMISSION_DENIED": PBSE_PERM,
    "INVALID_ARGUMENT": PBSE_BADATVAL,
    "FAILED_PRECONDITION": PBSE_BADSTATE,
    "UNAUTHENTICATED": PBSE_BADCRED,
    "RESOURCE_EXHAUSTED": PBSE_EXCQRESC,
}


def pbs_exit(errno: int) -> int:
    return errno % 256


# ctld's refusals as PBS words them (pbse_to_txt) and their error numbers; True: ctld's
# detail follows on a line of its own, where PBS's words alone would not say what to fix.
_PBS_REFUSALS = {
    "UNKNOWN_QUEUE": ("Unknown queue", PBSE_UNKQUE, False),
    "TOO_BIG": ("Job exceeds queue and/or server resource limits", PBSE_EXCQRESC, True),
    "TIME_LIMIT": ("Job exceeds queue and/or server resource limits", PBSE_EXCQRESC, True),
    "QUEUE_CLOSED": ("Queue is not enabled", PBSE_QUNOENB, False),
    "QUEUE_ACCESS": ("Access to queue is denied", PBSE_QACESS, False),
    "MAX_JOB_COUNT": ("Maximum number of jobs already in queue", PBSE_MAXQUED, True),
    "SUBMIT_LIMIT": ("would exceed the per-user limit of jobs", PBSE_ENTLIMCT, True),
    "BAD_LICENSE": ("Unknown resource", PBSE_UNKRESC, True),
    "BAD_DEPENDENCY": ("Invalid dependency", PBSE_BADDEPEND, True),
    "BAD_ARRAY": ("Array job exceeds server or queue size limit", PBSE_MAXARRAYSIZE, False),
    "BAD_SPEC": ("Illegal attribute or resource value", PBSE_BADATVAL, True),
}


def pbs_failure(prog: str, error: HpcqError, *, server: str) -> ShimError:
    """A failed call as PBS prints it. An unreachable server is ``cannot connect to
    server`` (exit 255, as qstat @nosuchserver); a refusal ctld names by its token is
    PBS's words and number; other failures show ctld's message with the exit code of
    the nearest PBS error."""
    token, detail = error_token(error)
    if token in _PBS_REFUSALS:
        words, errno, with_detail = _PBS_REFUSALS[token]
        text = f"{prog}: {words}" + (f"\n{prog}: {detail}" if with_detail and detail else "")
        return ShimError(text, pbs_exit(errno))
    if error.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
        lines = [f"{prog}: cannot connect to server {server} (errno=15010)"]
        if error.message:
            lines.append(f"{prog}: {error.message}")
        return ShimError("\n".join(lines), 255)
    if error.code == "PERMISSION_DENIED" and not error.message:
        return ShimError(f"{prog}: Unauthorized Request ", pbs_exit(PBSE_PERM))
    return ShimError(f"{prog}: {error.message}", pbs_exit(_PBS_ERRNO.get(error.code, 15010)) or 1)
