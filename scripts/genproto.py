"""Generate hpcq/api/ from proto/hpcq/v1/.

protoc names Python modules after the proto path (hpcq.v1), while the package keeps
generated code under hpcq.api; the import lines are rewritten to match. Run through
`make proto`; tests/unit/test_api_generated.py fails when the committed modules are stale.
"""
from __future__ import annotations

import pathlib
import re
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
API_DIR = ROOT / "hpcq" / "api"


def generate() -> dict[str, str]:
    """Return {file name: text} of every generated module."""
    from grpc_tools import protoc
    import grpc_tools

    include = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in (PROTO_DIR / "hpcq" / "v1").glob("*.proto"))
    with tempfile.TemporaryDirectory() as out:
        rc = protoc.main([
            "protoc", f"-I{PROTO_DIR}", f"-I{include}",
            f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}", *protos,
        ])
        if rc != 0:
            raise SystemExit(f"protoc failed with exit code {rc}")
        result = {}
        for path in sorted((pathlib.Path(out) / "hpcq" / "v1").iterdir()):
            text = path.read_text()
            text = re.sub(r"^from hpcq\.v1 import", "from hpcq.api import", text, flags=re.M)
            result[path.name] = text
        return result


def main() -> int:
    files = generate()
    for stale in API_DIR.glob("*_pb2*.py*"):
        if stale.name not in files:
            stale.unlink()
    for name, text in files.items():
        (API_DIR / name).write_text(text)
    print(f"wrote {len(files)} modules to {API_DIR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
