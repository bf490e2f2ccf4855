"""hpcq.api.lite: the same classes as the _pb2 modules, whichever is imported first, on
the fast path (hpcq/protolite.py making them in upb's pool) and on the fallback (the _pb2
modules' own), which a process takes when the fast path's checks fail.

Each case runs in a fresh interpreter, since which module makes a class first, which
path the lite modules take, and which protobuf implementation is in use, are facts of a
process.
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


# -- the fast path and the fallback --------------------------------------------------------
# Every test run takes both: HPCQ_PROTOLITE=pb2 forces the _pb2 modules' classes, which
# is what a process gets when the fast path's checks fail.

PATHS = {"fast": {}, "pb2": {"HPCQ_PROTOLITE": "pb2"}}

EVERY_MESSAGE_ROUND_TRIPS = """
    import importlib, sys
    for module in SHIM_MODULES:
        importlib.import_module(module)
    import hpcq.client
    from hpcq import protolite
    from hpcq.api.lite import admin_pb2, jobs_pb2, nodes_pb2
    lite_modules = (admin_pb2, jobs_pb2, nodes_pb2)
    for module in lite_modules:
        [getattr(module, name) for name in module.__all__]
    assert protolite.path() == EXPECTED, protolite.fallback_reason
    assert ("google.protobuf.descriptor_pool" in sys.modules) == (EXPECTED == "pb2")

    from google.protobuf.descriptor import FieldDescriptor as F
    from hpcq.api import admin_pb2 as admin, jobs_pb2 as jobs, nodes_pb2 as nodes

    def sample(field):
        if field.type == F.TYPE_ENUM:
            return field.enum_type.values[-1].number
        return {F.TYPE_STRING: "x\\u00e9", F.TYPE_BYTES: b"\\x00\\xff", F.TYPE_BOOL: True, F.TYPE_DOUBLE: 1.5,
                F.TYPE_FLOAT: 2.5}.get(field.type, 7)

    def fill(message, depth=0):
        for field in message.DESCRIPTOR.fields:
            kind = field.message_type
            if kind is not None and kind.GetOptions().map_entry:
                key, value = kind.fields_by_name["key"], kind.fields_by_name["value"]
                if value.message_type is None:
                    getattr(message, field.name)[sample(key)] = sample(value)
                elif depth < 3:
                    fill(getattr(message, field.name)[sample(key)], depth + 1)
            elif kind is not None:
                if depth < 3:
                    sub = getattr(message, field.name).add() if field.is_repeated else getattr(message, field.name)
                    fill(sub, depth + 1)
                    sub.SetInParent()
            elif field.is_repeated:
                getattr(message, field.name).extend([sample(field), sample(field)])
            else:
                setattr(message, field.name, sample(field))

    def classes(module):
        found = []
        def walk(cls):
            found.append(cls)
            for nested in cls.DESCRIPTOR.nested_types:
                if not nested.GetOptions().map_entry:
                    walk(getattr(cls, nested.name))
        for name in module.DESCRIPTOR.message_types_by_name:
            walk(getattr(module, name))
        return found

    count = 0
    for lite, pb2 in zip(lite_modules, (admin, jobs, nodes)):
        for pb2_class in classes(pb2):
            lite_class = getattr(lite, pb2_class.__qualname__.partition(".")[0])
            for part in pb2_class.__qualname__.split(".")[1:]:
                lite_class = getattr(lite_class, part)
            assert lite_class is pb2_class, pb2_class
            message = lite_class()
            fill(message)
            data = message.SerializeToString()
            again = pb2_class.FromString(data)
            assert again == message and again.SerializeToString() == data, pb2_class
            assert again.ListFields() or not pb2_class.DESCRIPTOR.fields, pb2_class
            count += 1
    print(count)
"""


def shim_modules() -> list[str]:
    """The modules of the installed shim commands (pyproject's console scripts)."""
    import tomllib
    from pathlib import Path
    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    return sorted({target.partition(":")[0] for target in project["project"]["scripts"].values()
                   if target.startswith("hpcq.shims.")})


@pytest.mark.parametrize("path", PATHS)
def test_the_shims_load_and_every_message_type_round_trips_on_each_path(path):
    modules = shim_modules()
    assert "hpcq.shims.slurm.sbatch" in modules and "hpcq.shims.pbs.qsub" in modules
    code = textwrap.dedent(EVERY_MESSAGE_ROUND_TRIPS).replace("SHIM_MODULES", repr(modules)) \
        .replace("EXPECTED", repr(path))
    assert int(run(code, **PATHS[path])) == message_types()


def message_types() -> int:
    """How many message types admin, jobs and nodes declare, nested ones too (not map entries)."""
    from hpcq.api import admin_pb2, jobs_pb2, nodes_pb2

    def count(descriptor) -> int:  # a protobuf Descriptor
        return 1 + sum(count(n) for n in descriptor.nested_types if not n.GetOptions().map_entry)
    return sum(count(d) for m in (admin_pb2, jobs_pb2, nodes_pb2) for d in m.DESCRIPTOR.message_types_by_name.values())


@pytest.mark.parametrize("broken", [
    # upb's MessageMeta no longer makes message classes: the self-check refuses them.
    "protolite._message_class = lambda meta, descriptor, module, prefix: type(descriptor.name, (), {})",
    # a private name moved: making the classes raises.
    "protolite._deferring_well_known_types = lambda upb, make: upb.NoSuchMetaclass",
])
def test_a_fast_path_that_fails_its_checks_falls_back_to_the_pb2_classes(broken):
    out = run(f"""
        from hpcq import protolite
        {broken}
        from hpcq.api.lite import jobs_pb2 as lite
        job = lite.Job(id=3, spec=lite.JobSpec(name="x"))
        assert protolite.path() == "pb2"
        print(protolite.fallback_reason)
        from hpcq.api import jobs_pb2
        assert lite.Job is jobs_pb2.Job and jobs_pb2.Job.FromString(job.SerializeToString()).spec.name == "x"
    """)
    assert out.startswith("the fast path failed on hpcq.v1.jobs_pb2: ")


def test_upb_without_the_private_names_is_not_used(monkeypatch):
    from hpcq import protolite

    class Implementation:
        _c_module = object()     # a upb that has none of the names the fast path uses

        @staticmethod
        def Type() -> str:  # protobuf's name
            return "upb"
    monkeypatch.setitem(sys.modules, "google.protobuf.internal.api_implementation", Implementation)
    assert protolite._private_upb() == (None, "upb lacks MessageMeta, Message, default_pool")
    monkeypatch.setenv("HPCQ_PROTOLITE", "pb2")
    assert protolite._private_upb() == (None, "HPCQ_PROTOLITE=pb2")


def test_the_pinned_protobuf_range_is_the_one_the_code_is_built_for():
    """pyproject.toml pins protobuf from the release the _pb2 modules were generated for
    (they refuse an older one, and another major) to the end of the major the fast path
    was checked against; the installed protobuf is in it."""
    import re
    import tomllib
    from pathlib import Path

    import google.protobuf

    from hpcq import protolite
    root = Path(__file__).resolve().parents[2]
    [pin] = [d for d in tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
             if re.match(r"protobuf\b", d)]
    generated = re.search(r"^# Protobuf Python Version: (\S+)$", (root / "hpcq/api/jobs_pb2.py").read_text(), re.M)[1]
    major = int(protolite.SUPPORTED_PROTOBUF_MAJOR.rstrip("."))
    assert pin == f"protobuf>={generated},<{major + 1}"
    installed = tuple(int(p) for p in google.protobuf.__version__.split(".")[:3])
    assert tuple(int(p) for p in generated.split(".")) <= installed < (major + 1,)
