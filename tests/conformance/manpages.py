"""Slurm's documented surface, read from the man pages the Debian packages install
(/usr/share/man/man1/<command>.1.gz, troff): each command's options, and the fields of
the options that take a list of fields (squeue's and sinfo's ``-o`` letters and ``-O``
names). sacct's fields come from ``sacct --helpformat``, which lists exactly what its
``--format`` accepts (recorded in sacct_fields.txt, checked against the installed sacct).

A man page documents an option as a tagged paragraph: ``.TP`` and then the tag line,
``\\fB\\-A\\fR, \\fB\\-\\-account\\fR=<\\fIaccount\\fR>``; a field list is the tagged
paragraphs (``\\fB%a\\fR``, ``\\fBAccount\\fR``) inside that option's paragraph.
"""
from __future__ import annotations

import gzip
import itertools
import re
from dataclasses import dataclass
from pathlib import Path

MAN_DIR = Path("/usr/share/man/man1")

_FONT = re.compile(r"\\f[BIRP]|\\f\(..")


def plain(troff: str) -> str:
    """A troff line as text: fonts dropped, escaped dashes and spaces as themselves."""
    return _FONT.sub("", troff).replace("\\-", "-").replace("\\ ", " ").replace("\\(aq", "'").replace("\\e", "\\")


@dataclass(frozen=True)
class Tag:
    raw: str          # the troff tag line
    text: str         # as text
    owner: str        # the option (``-O, --Format=<output_format>``) whose paragraph it is in

    @property
    def bold_word(self) -> str | None:
        """``Account`` of ``\\fBAccount\\fR``: a field name of a list (bold, one word)."""
        m = re.fullmatch(r"\\fB([\w%:()/]+)\\f[RP](?: or \\fB(\w+)\\f[RP])?", self.raw.strip())
        return m[1] if m else None


@dataclass(frozen=True)
class Option:
    short: str        # "-A" or ""
    long: str         # "--account" or ""
    argument: str     # "required", "optional" or "none"
    metavar: str      # "account"

    @property
    def name(self) -> str:
        return self.long or self.short


def read(command: str) -> list[str]:
    path = MAN_DIR / f"{command}.1.gz"
    if not path.exists():
        raise FileNotFoundError(f"{path}: Slurm's man pages are not installed (slurm_up.sh installs them)")
    with gzip.open(path, "rt", errors="replace") as f:
        return f.read().splitlines()


def tags(command: str) -> list[Tag]:
    """Every tagged paragraph's tag, with the option it belongs to."""
    lines = read(command)
    found: list[Tag] = []
    owner = ""
    for previous, line in itertools.pairwise(lines):
        if not previous.startswith(".TP") or line.startswith("."):
            continue
        text = plain(line).strip()
        if text.startswith("-") and not text.startswith("--constraint=\"") and _OPTION.match(text):
            owner = text
        found.append(Tag(line, text, owner))
    return found


_OPTION = re.compile(r"(?:(-[A-Za-z0-9]),?\s*)?(?:(--[A-Za-z][\w-]*))?(\[=|=| <)?\s*<?([\w-]*)")


def options(command: str) -> list[Option]:
    """The options the man page documents, each once."""
    seen: dict[str, Option] = {}
    for tag in tags(command):
        if tag.owner != tag.text:
            continue
        m = _OPTION.match(tag.text)
        if not m or not (m[1] or m[2]):
            continue
        argument = {"[=": "optional", "=": "required", " <": "required"}.get(m[3] or "", "none")
        option = Option(m[1] or "", m[2] or "", argument, m[4] or "")
        seen.setdefault(option.name, option)
    return list(seen.values())


def field_names(command: str, option: str) -> list[str]:
    """The bold one-word tags inside `option`'s paragraph (``-o`` letters with their %, ``-O`` names)."""
    names: list[str] = []
    for tag in tags(command):
        # ``%`` letters are -o's alone, wherever the page's examples put other option tags.
        owners = tag.owner.split("=")[0].split(", ")
        if option == "-o":
            if not tag.text.startswith("%"):
                continue
        elif tag.text.startswith("%") or option not in owners:
            continue
        word = tag.bold_word
        if word and word not in names:
            names.append(word)
        m = re.search(r" or \\fB(\w+)\\f[RP]", tag.raw)
        if m and m[1] not in names:
            names.append(m[1])
    return names


def subcommands(command: str, after: str, until: str) -> list[str]:
    """The bold words tagged between the tag `after` and the tag `until` (scontrol's show
    entities: after ``show``, until ``shutdown``)."""
    words: list[str] = []
    inside = False
    for tag in tags(command):
        first = tag.text.split()[0] if tag.text.split() else ""
        if first == after:
            inside = True
            continue
        if first == until:
            break
        word = tag.bold_word
        if inside and word and word.islower() and word not in words:
            words.append(word)
    return words
