"""hpcq as another project gets it: its wheel, built from this tree, installed with its
declared dependencies (and nothing else) into a fresh venv, offline; there,
`from hpcq.testing import local_cluster` works and a test using the `hpcq_cluster`
fixture runs sbatch and qsub end to end. A dependency missing from pyproject.toml, a
module or py.typed left out of the wheel, or the pytest plugin not registered fails it.

The dependencies' wheels are packed from this environment's installed copies
(tests/wheel/repack.py), so nothing is downloaded."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.wheel import repack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def build_wheel(out: Path, scratch: Path) -> Path:
    """hpcq's wheel, built from a copy of the tree (a build writes egg-info and build/
    where it runs), with this environment's setuptools."""
    source = scratch / "source"
    shutil.copytree(ROOT / "hpcq", source / "hpcq", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "-w", str(out), str(source)], check=True, capture_output=True, text=True)
    [wheel] = out.glob("hpcq-*.whl")
    return wheel


def test_the_wheel_installs_on_its_own_and_its_fixture_runs_sbatch_and_qsub(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = build_wheel(wheels, tmp_path)
    contents = zipfile.ZipFile(wheel).namelist()
    assert {"hpcq/py.typed", "hpcq/testing.py", "hpcq/_pytest_plugin.py", "hpcq/api/lite/jobs_pb2.py"} <= set(contents)
    entry_points = next(n for n in contents if n.endswith(".dist-info/entry_points.txt"))
    assert "hpcq = hpcq._pytest_plugin" in zipfile.ZipFile(wheel).read(entry_points).decode()

    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for dist in repack.closure([*dependencies, "pytest"]):
        repack.repack(dist, wheels)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                                "--no-index", "--no-compile", "--find-links", str(wheels), str(wheel), "pytest"],
                               capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr

    # Nothing of this checkout or its venv: no PYTHONPATH, no hpcq on PATH, no cluster named.
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"),
           "LANG": os.environ.get("LANG", "C.UTF-8"), "TMPDIR": os.environ.get("TMPDIR", "/tmp")}
    work = tmp_path / "project"
    work.mkdir()
    where = subprocess.run([str(python), "-c", "import hpcq; from hpcq.testing import local_cluster; "
                            "print(hpcq.__file__)"], cwd=work, env=env, capture_output=True, text=True)
    assert where.returncode == 0, where.stderr
    assert where.stdout.startswith(str(venv)), where.stdout

    # the plugin is on by default, off with -p no:hpcq, and on again by name without autoloading
    def fixtures(*options: str, **environ: str) -> str:
        listed = subprocess.run([str(python), "-m", "pytest", "-p", "no:cacheprovider", "--fixtures", *options],
                                cwd=work, env={**env, **environ}, capture_output=True, text=True)
        return listed.stdout
    assert "hpcq_cluster" in fixtures()
    assert "hpcq_cluster" not in fixtures("-p", "no:hpcq")
    assert "hpcq_cluster" in fixtures("-p", "hpcq", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")

    shutil.copy(HERE / "consumer_tests.py", work / "test_consumer.py")
    run = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_consumer.py"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout
