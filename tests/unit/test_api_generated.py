"""The committed hpcq/api modules are exactly what proto/ generates (run `make proto`)."""
import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_generated_modules_are_fresh():
    spec = importlib.util.spec_from_file_location("genproto", ROOT / "scripts" / "genproto.py")
    genproto = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(genproto)
    expected = genproto.generate()
    committed = {p.relative_to(genproto.API_DIR).as_posix(): p.read_text() for p in genproto.generated_paths()}
    stale = sorted(name for name in expected.keys() | committed.keys() if expected.get(name) != committed.get(name))
    assert not stale, f"hpcq/api is stale against proto/ for {stale}: run `make proto`"
