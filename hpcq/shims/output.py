"""What a command prints: its output on stdout, its failures and refusals on stderr."""
from __future__ import annotations

import sys
from collections.abc import Iterable


def write(text: str) -> None:
    """Write command output; lines end with a newline, nothing is added to empty output."""
    if text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def print_error(text: str) -> None:
    """A failure's text on stderr (one or more lines); nothing for empty text."""
    if text:
        print(text, file=sys.stderr)


def refusals(lines: Iterable[str], exit_code: int) -> int:
    """Print what a job action refused, a line a job on stderr, and return the command's
    exit code: the action on the other jobs stands, so a refusal is no ShimError."""
    for line in lines:
        print(line, file=sys.stderr)
    return exit_code
