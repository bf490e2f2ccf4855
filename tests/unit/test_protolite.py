"""hpcq.api.lite: the same classes as the _pb2 modules, whichever is imported first.

Each case runs in a fresh interpreter, since which module makes a class first, and which
protobuf implementation is in use, are facts of a process.
"""
import os
import subprocess
import sys
import textwrap

import pytest

INTEROP = """
    from hpcq.api.lite import admin_pb2 as lite_admin, jobs_pb2 as lite
    FIRST_CLASSES
    from hpcq.api import admin_pb2, jobs_pb2
    assert lite.Job is jobs_pb2.Job and lite.Dependency.Task is jobs_pb2.Dependency.Task
    assert lite_admin.Node is admin_pb2.Node
    job = lite.Job(id=7, state=lite.RUNNING, spec=lite.JobSpec(
        name="x", environment={"A": "1"},
        dependencies=[lite.Dependency(kind=lite.Dependency.AFTER_OK, job_ids=[3])]))
    again = jobs_pb2.Job.FromString(job.SerializeToString())
    assert again == job and isinstance(again, lite.Job) and isinstance(job, jobs_pb2.Job)
    assert lite.JobState.Name(again.state) == "RUNNING" and lite.RUNNING == jobs_pb2.RUNNING
    assert lite.Dependency.Kind.Value("AFTER_OK") == jobs_pb2.Dependency.AFTER_OK
    assert lite_admin.NodeState.Name(lite_admin.NODE_IDLE) == "NODE_IDLE"
    assert (type(job).__module__, type(job.spec.dependencies[0]).__qualname__) == (
        jobs_pb2.Job.__module__, jobs_pb2.Dependency.__qualname__)
"""


def run(code: str, **environ: str) -> str:
    env = {**os.environ, **environ}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("first", ["lite", "pb2"])
def test_lite_and_pb2_classes_are_the_same_in_either_order(first):
    # The lite modules make their classes when a name in them is first used.
    first_classes = "lite_admin.Node" if first == "lite" else "import hpcq.api.admin_pb2"
    run(INTEROP.replace("FIRST_CLASSES", first_classes))


def test_lite_modules_make_classes_on_first_use_dependencies_first():
    run("""
        import hpcq.client
        from hpcq.api.lite import admin_pb2, jobs_pb2, nodes_pb2
        assert all("__getattr__" in vars(m) for m in (admin_pb2, nodes_pb2)), "admin classes made for a job call"
        admin_pb2.ListNodesResponse
        assert not any("__getattr__" in vars(m) for m in (admin_pb2, nodes_pb2, jobs_pb2))
        # Classes upb makes for fields are those the modules named, not ones it names itself.
        hardware = admin_pb2.Node().hardware
        assert type(hardware) is nodes_pb2.Hardware and type(hardware).__module__ == "hpcq.v1.nodes_pb2"
        assert set(admin_pb2.__all__) <= set(vars(admin_pb2)) and "NODE_IDLE" in admin_pb2.__all__
        try:
            admin_pb2.NoSuchMessage
        except AttributeError:
            pass
        else:
            raise AssertionError("a name the module lacks")
    """)


def test_pure_python_protobuf_gets_the_pb2_classes():
    out = run("""
        from hpcq.api.lite import jobs_pb2 as lite
        from hpcq.api import jobs_pb2
        from google.protobuf.internal import api_implementation
        assert lite.Job is jobs_pb2.Job and lite.JobState is jobs_pb2.JobState and lite.RUNNING == jobs_pb2.RUNNING
        print(api_implementation.Type())
    """, PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="python")
    assert out.strip() == "python"
    run(INTEROP.replace("FIRST_CLASSES", "lite_admin.Node"), PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="python")


def test_another_protobuf_major_gets_the_pb2_classes():
    run("""
        import sys
        import google.protobuf
        google.protobuf.__version__ = "99.0.0"
        from hpcq.api.lite import jobs_pb2 as lite
        job_class = lite.Job
        assert "google.protobuf.descriptor_pool" in sys.modules  # the _pb2 module's path
        from hpcq.api import jobs_pb2
        assert job_class is jobs_pb2.Job
    """)


def test_well_known_types_still_work_after_the_lite_modules():
    # The lite modules keep upb from loading well_known_types for their classes; a later
    # Timestamp or Any must still get its methods.
    run("""
        import sys
        from hpcq.api.lite import jobs_pb2
        jobs_pb2.Job(id=1)
        assert "google.protobuf.internal.well_known_types" not in sys.modules
        from google.protobuf import any_pb2, duration_pb2, timestamp_pb2
        stamp = timestamp_pb2.Timestamp()
        stamp.FromSeconds(86400)
        assert stamp.ToDatetime().year == 1970 and duration_pb2.Duration(seconds=2).ToTimedelta().seconds == 2
        packed = any_pb2.Any()
        packed.Pack(jobs_pb2.Job(id=5))
        assert packed.Is(jobs_pb2.Job.DESCRIPTOR)
    """)
