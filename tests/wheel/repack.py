"""Wheels of installed distributions, so that a fresh venv can install hpcq's dependencies
with `pip install --no-index`: pip cannot make a wheel of what is installed, but an
installed distribution is a wheel unpacked (its files, listed in RECORD, and its
.dist-info), and packs back into one for this very machine."""
from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import re
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from packaging import tags

# What an installer adds to a .dist-info: it is not part of the wheel.
_INSTALLER_FILES = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}


def closure(requirements: list[str]) -> list[importlib.metadata.Distribution]:
    """The installed distributions these requirements need, their own requirements
    included (extras as asked, environment markers as this interpreter has them)."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        try:
            dist = importlib.metadata.distribution(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            raise LookupError(f"{requirement} is needed but not installed here") from None
        extras = {""} | requirement.extras
        for text in dist.requires or []:
            nested = Requirement(text)
            if nested.marker is None or any(nested.marker.evaluate({"extra": e}) for e in extras):
                todo.append(nested)
        found[name] = dist
    return sorted(found.values(), key=lambda d: canonicalize_name(d.metadata["Name"]))


def _hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def repack(dist: importlib.metadata.Distribution, out: Path) -> Path:
    """A wheel in `out` with what `dist` installed inside site-packages (scripts are made
    again from entry_points.txt by whoever installs it)."""
    files = [f for f in dist.files or [] if f.parts[0] != ".." and "__pycache__" not in f.parts]
    info = next(f.parts[0] for f in files if f.parts[0].endswith(".dist-info"))
    wheel_text = Path(dist.locate_file(f"{info}/WHEEL")).read_text()
    offered = [line.split(":", 1)[1].strip() for line in wheel_text.splitlines() if line.startswith("Tag:")]
    supported = {str(t) for t in tags.sys_tags()}
    tag = next(t for t in offered if t in supported)
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    path = out / f"{name}-{dist.version}-{tag}.whl"
    record = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as wheel:
        for f in files:
            if f.parts[0] == info and f.name in _INSTALLER_FILES:
                continue
            data = Path(dist.locate_file(f)).read_bytes()
            wheel.writestr(f.as_posix(), data)
            record.append(f"{f.as_posix()},{_hash(data)},{len(data)}")
        record.append(f"{info}/RECORD,,")
        wheel.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path
