"""The SDK's public surface is deliberate: what `hpcq` and `hpcq.testing` export is pinned
here, so adding or removing a name is a decision this test makes visible (Temporal's
Python SDK does the same). The package says it is typed, and importing it costs the
commands nothing."""
import enum
import subprocess
import sys
import tomllib
from pathlib import Path

import hpcq
import hpcq.testing
from hpcq.api import jobs_pb2

ROOT = Path(__file__).resolve().parents[2]

HPCQ_EXPORTS = ["ActionResult", "Client", "HpcqError", "JobInfo", "JobState", "NodeInfo", "__version__"]
TESTING_EXPORTS = ["Cluster", "CommandFailed", "commands_dir", "local_cluster"]


def test_hpcq_exports_exactly_the_sdk():
    assert sorted(hpcq.__all__) == HPCQ_EXPORTS
    for name in hpcq.__all__:
        assert getattr(hpcq, name) is not None
        assert name in dir(hpcq)
    # the implementation lives in private modules; the public names are where users look
    assert hpcq.Client.__module__ == "hpcq._sdk"
    assert {getattr(hpcq, n).__module__ for n in ("JobInfo", "JobState", "NodeInfo", "ActionResult")} == {"hpcq._views"}


def test_hpcq_testing_exports_the_cluster_helpers():
    assert sorted(hpcq.testing.__all__) == TESTING_EXPORTS
    for name in hpcq.testing.__all__:
        assert callable(getattr(hpcq.testing, name))


def test_an_unknown_name_is_an_attribute_error():
    try:
        hpcq.NoSuchThing  # noqa: B018
    except AttributeError as e:
        assert "NoSuchThing" in str(e)
    else:
        raise AssertionError("hpcq.NoSuchThing resolved")


def test_job_state_mirrors_the_protobuf_enum():
    protobuf = {name.removeprefix("JOB_STATE_"): value for name, value in jobs_pb2.JobState.items()}
    assert {s.name: s.value for s in hpcq.JobState} == protobuf
    assert issubclass(hpcq.JobState, enum.IntEnum)
    assert hpcq.JobState.RUNNING == jobs_pb2.RUNNING and str(hpcq.JobState.RUNNING) == "RUNNING"


def test_py_typed_ships_with_the_package():
    assert (ROOT / "hpcq" / "py.typed").is_file()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["hpcq"]
    assert "Typing :: Typed" in project["project"]["classifiers"]


def test_the_pytest_plugin_is_registered_and_names_the_fixture():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    module = project["project"]["entry-points"]["pytest11"]["hpcq"]
    plugin = __import__(module, fromlist=["hpcq_cluster"])
    assert hasattr(plugin, "hpcq_cluster") and hasattr(plugin, "hpcq_cluster_options")


def test_importing_hpcq_loads_none_of_the_sdk():
    # the commands import hpcq's package first: it must not pull in the typed SDK or grpc
    code = ("import sys, hpcq; print(sorted(m for m in ('hpcq._sdk', 'hpcq._views', 'dataclasses', 'grpc', "
            "'hpcq.testing') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
