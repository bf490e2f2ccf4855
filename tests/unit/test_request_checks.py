"""The checks at ctld's boundary, one rule at a time: each refusal names the field, and
what passes is what the rest of ctld can use. tests/security/test_grpc_fuzz.py throws
random requests at a running ctld; these say what each rule is."""
from __future__ import annotations

import pytest

from hpcq.api import admin_pb2, jobs_pb2
from hpcq.ctld import admin, boundary, fieldpaths, jobs, steps
from hpcq.ctld.errors import DomainError, FailedPrecondition, InvalidArgument, ResourceExhausted
from hpcq.ctld.scheduler import dependencies as deps

SCRIPT = "#!/bin/sh\ntrue\n"
D = jobs_pb2.Dependency


# -- bytes that are not the message -------------------------------------------------------

def test_a_request_that_parses_is_the_message() -> None:
    raw = jobs_pb2.SubmitRequest(specs=[jobs_pb2.JobSpec(name="a")]).SerializeToString()

    assert boundary.parser(jobs_pb2.SubmitRequest.DESCRIPTOR)(raw) == jobs_pb2.SubmitRequest.FromString(raw)


def test_a_string_that_is_not_utf8_is_named_by_its_path() -> None:
    raw = jobs_pb2.SubmitRequest(specs=[jobs_pb2.JobSpec(name="a"), jobs_pb2.JobSpec(environment={"AB": "x"})]) \
        .SerializeToString().replace(b"x", b"\xfe")

    parsed = boundary.parser(jobs_pb2.SubmitRequest.DESCRIPTOR)(raw)

    assert isinstance(parsed, boundary.Malformed)
    assert parsed.reason == "specs[1].environment[0].value: not valid UTF-8"


@pytest.mark.parametrize("raw", [b"\x0a\x05", b"\xff" * 11, b"\x0b", b"\x0a\x03\x12\x09a"])
def test_a_broken_encoding_says_so(raw: bytes) -> None:
    parsed = boundary.parser(jobs_pb2.SubmitRequest.DESCRIPTOR)(raw)

    assert isinstance(parsed, boundary.Malformed)
    assert parsed.reason == "SubmitRequest: not a valid protobuf encoding"


# -- jobs ----------------------------------------------------------------------------------

def spec(**fields) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(script=SCRIPT, submit_dir="/tmp", **fields)


def refusal(s: jobs_pb2.JobSpec) -> str:
    with pytest.raises(InvalidArgument) as refused:
        jobs.validate(s)
    return str(refused.value)


@pytest.mark.parametrize("s,message", [
    (spec(dependencies=[D()]), "BAD_DEPENDENCY: dependencies[0].kind: 0 is not a dependency type"),
    (spec(dependencies=[D(kind=D.AFTER_OK)]), "BAD_DEPENDENCY: dependencies[0].job_ids: missing"),
    (spec(dependencies=[D(kind=D.AFTER_OK, job_ids=[3]), D(kind=99, job_ids=[3])]),
     "BAD_DEPENDENCY: dependencies[1].kind: 99 is not a dependency type"),
    (spec(dependencies=[D(kind=D.SINGLETON, job_ids=[3])]), "BAD_DEPENDENCY: dependencies[0]: singleton takes no "
                                                             "job ids"),
    (spec(dependencies=[D(kind=D.AFTER, tasks=[D.Task(array_job_id=0, task=1)])]),
     "BAD_DEPENDENCY: dependencies[0]: 0 is not a job id"),
    (spec(dependencies=[D(kind=D.AFTER_ANY, job_ids=range(1, deps.MAX_TARGETS + 2))]),
     f"BAD_DEPENDENCY: dependencies: {deps.MAX_TARGETS + 1} jobs; at most {deps.MAX_TARGETS}"),
    (spec(dialect=7), "BAD_SPEC: dialect: 7 is not a dialect"),
    (spec(begin_time=1e300), "BAD_SPEC: begin_time: must be a finite, non-negative time before the year 10000"),
    (spec(retry=jobs_pb2.RetryPolicy(backoff_seconds=float("inf"))), "BAD_SPEC: retry.backoff_seconds"),
    (spec(umask=0o1777), "BAD_SPEC: umask: 0o1777 is more than 0o777"),
    (spec(kill_signal=65), "BAD_SPEC: kill_signal: 65 is not a signal number"),
    (spec(kill_signal_seconds=65536), "BAD_SPEC: kill_signal_seconds: 65536 is more than 65535"),
    (spec(resources=jobs_pb2.Resources(gpus_per_node=2**32 - 1)), "BAD_SPEC: resources.gpus_per_node: 4294967295 "
                                                                  "is more than 100000"),
    (spec(resources=jobs_pb2.Resources(mem_per_node_mb=2**64 - 1)), "BAD_SPEC: resources.mem_per_node_mb: "),
    (spec(resources=jobs_pb2.Resources(tasks_per_node=10_000_000, cpus_per_task=2)),
     "BAD_SPEC: resources: 20000000 CPUs per node is more than 10000000"),
    (spec(resources=jobs_pb2.Resources(tasks_per_node=1_000_000, mem_per_cpu_mb=2**30)),
     "BAD_SPEC: resources: 1073741824000000 MiB per node is more than"),
    (spec(resources=jobs_pb2.Resources(features=["a", ""])), "BAD_SPEC: resources.features[1]: empty"),
    (spec(resources=jobs_pb2.Resources(licenses={"a:b": 1})), "BAD_SPEC: resources.licenses: 'a:b'"),
    (spec(argv=["a", "b\0"]), "BAD_SPEC: argv[1]: NUL byte"),
    (spec(attributes={"a=b": "c"}), "BAD_SPEC: attributes: 'a=b'"),
    (spec(interpreter="/bin/sh\n-x"), "BAD_SPEC: interpreter: NUL or line break"),
    (spec(comment="a\0"), "BAD_SPEC: comment: NUL byte"),
    (spec(account="a" * 257), "BAD_SPEC: account: longer than 256 characters"),
    (spec(attributes={"note": "x" * jobs.MAX_SPEC_BYTES}), f"BAD_SPEC: spec: larger than {jobs.MAX_SPEC_BYTES} "),
])
def test_the_validator_names_what_it_refuses(s: jobs_pb2.JobSpec, message: str) -> None:
    assert refusal(s).startswith(message)


def test_extremes_within_the_limits_pass_and_make_a_usable_shape() -> None:
    s = spec(resources=jobs_pb2.Resources(nodes=100_000, tasks_per_node=100, cpus_per_task=100_000,
                                          mem_per_cpu_mb=100, gpus_per_node=100_000),
             begin_time=jobs.MAX_TIME, kill_signal=64, kill_signal_seconds=0xFFFF, umask=0o777,
             dependencies=[D(kind=D.AFTER_OK, job_ids=[2**64 - 1]), D(kind=D.SINGLETON)], dependency_any=True)

    jobs.validate(s)

    assert jobs.shape(s) == (100_000, 10_000_000, 1_000_000_000, 100_000)


def test_a_stored_dependency_that_the_checks_refuse_now_still_loads() -> None:
    """A record written before a rule existed must not keep ctld from starting."""
    loaded = deps.from_proto([D(kind=D.AFTER_OK)])

    assert loaded == deps.Dependencies((deps.Term(deps.Kind.AFTER_OK),))


def test_a_dependency_text_naming_job_zero_is_refused_at_submit() -> None:
    s = spec(dialect=jobs_pb2.DIALECT_SLURM, attributes={"dependency": "afterok:0"})

    with pytest.raises(InvalidArgument, match=r"BAD_DEPENDENCY: dependency: dependencies.0.: 0 is not a job id"):
        jobs.resolve_dependencies(s)


@pytest.mark.parametrize("fields,message", [
    (["nmae"], "fields[0]: unknown field 'nmae'"),
    (["name", "resources.nodes.x"], "fields[1]: 'resources.nodes.x': nodes has no fields"),
    (["environment.A"], "fields[0]: 'environment.A': environment has no fields"),
    (["dependencies.kind"], "fields[0]: 'dependencies.kind': dependencies has no fields"),
    ([""], "fields[0]: unknown field ''"),
    (["array.tasks"], "fields[0]: 'array.tasks' cannot be changed (only array.max_running)"),
    (["array"], "fields[0]: 'array' cannot be changed"),
    (["name"] * (fieldpaths.MAX_PATHS + 1), f"fields: {fieldpaths.MAX_PATHS + 1} paths; at most"),
])
def test_update_field_paths_are_checked_before_anything_changes(fields: list[str], message: str) -> None:
    with pytest.raises(InvalidArgument, match="BAD_FIELD") as refused:
        jobs.check_update_fields(fields)

    assert message in str(refused.value)


def test_known_update_field_paths_pass() -> None:
    paths = ["name", "resources.nodes", "resources", "environment", "array.max_running", "retry.backoff_seconds"]

    assert jobs.check_update_fields(paths) == paths


def test_request_sizes_are_bounded() -> None:
    jobs.check_count("specs", jobs.MAX_SPECS_PER_SUBMIT, jobs.MAX_SPECS_PER_SUBMIT)

    with pytest.raises(InvalidArgument, match="BAD_REQUEST: job_ids: 100001 in one request; at most 100000"):
        jobs.check_count("job_ids", jobs.MAX_JOB_IDS + 1, jobs.MAX_JOB_IDS)


# -- admin ---------------------------------------------------------------------------------

@pytest.mark.parametrize("queue,fields,message", [
    (admin_pb2.Queue(), None, "BAD_QUEUE: queue.name: empty"),
    (admin_pb2.Queue(name="a b"), None, "BAD_QUEUE: queue.name: 'a b': ' ' is not allowed in a name"),
    (admin_pb2.Queue(name="q@host"), None, "BAD_QUEUE: queue.name: 'q@host': '@' is not allowed"),
    (admin_pb2.Queue(name="q", state=9), None, "BAD_QUEUE: queue.state: 9 is not a queue state"),
    (admin_pb2.Queue(name="q", nodes=["n1", "n2,n3"]), None, "BAD_QUEUE: queue.nodes[1]: 'n2,n3'"),
    (admin_pb2.Queue(name="q", allowed_users=["a\nb"]), None, "BAD_QUEUE: queue.allowed_users[0]"),
    (admin_pb2.Queue(name="q", default_mem_per_cpu_mb=2**64 - 1), None, "BAD_QUEUE: queue.default_mem_per_cpu_mb"),
    (admin_pb2.Queue(name="q", state=9), ["state"], "BAD_QUEUE: queue.state: 9"),
    (admin_pb2.Queue(name="q"), ["name.x"], "BAD_FIELD: fields[0]: 'name.x': name has no fields"),
])
def test_queue_checks_name_the_field(queue: admin_pb2.Queue, fields: list[str] | None, message: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        admin.check_queue(queue, fields)

    assert str(refused.value).startswith(message)


def test_an_update_checks_only_the_fields_it_takes() -> None:
    admin.check_queue(admin_pb2.Queue(name="q", state=9, nodes=[""]), ["priority"])
    admin.check_queue(admin_pb2.Queue(name="gpu", allowed_users=["alice@example.org"], nodes=["node[1-4]"]))


def test_shares_and_drain_reasons_are_checked() -> None:
    admin.check_share(admin_pb2.Share(account="physics", user="alice@example.org"))
    with pytest.raises(InvalidArgument, match=r"BAD_SHARE: share\.account: empty"):
        admin.check_share(admin_pb2.Share(user="alice"))
    with pytest.raises(InvalidArgument, match=r"BAD_SHARE: share\.user: 'a,b'"):
        admin.check_share(admin_pb2.Share(account="physics", user="a,b"))
    with pytest.raises(InvalidArgument, match="reason: NUL or line break"):
        admin.check_reason("disk\nNodeName=forged")


# -- job steps -----------------------------------------------------------------------------

def running_job(nodes: tuple[str, ...] = ("n1", "n2"), steps_run: int = 0) -> jobs_pb2.Job:
    job = jobs_pb2.Job(id=7, state=jobs_pb2.RUNNING, attempt=1)
    for n in nodes:
        job.allocation.slices.add(node=n, cpus=2)
    job.steps.extend(jobs_pb2.JobStep(step_id=i, attempt=1) for i in range(steps_run))
    return job


def step(**launch) -> jobs_pb2.CreateStepRequest:
    return jobs_pb2.CreateStepRequest(job_id=7, name="a.out", ntasks=2, launch=jobs_pb2.StepLaunch(**launch))


@pytest.mark.parametrize("request_,error,message", [
    (step(launch_node="elsewhere"), InvalidArgument, "launch.launch_node: elsewhere is not a node of job 7 (n[1-2])"),
    (step(argv=["a\0"]), InvalidArgument, "launch.argv[0]: NUL byte"),
    (step(environment={"A=B": "1"}), InvalidArgument, "launch.environment: 'A=B'"),
    (step(cwd="/tmp\n"), InvalidArgument, "launch.cwd: NUL or line break"),
    (step(open_mode="overwrite"), InvalidArgument, "launch.open_mode: 'overwrite'"),
    (jobs_pb2.CreateStepRequest(job_id=7, name="x\ny"), InvalidArgument, "name: NUL, line break"),
])
def test_a_step_request_is_checked(request_: jobs_pb2.CreateStepRequest, error: type[DomainError],
                                   message: str) -> None:
    with pytest.raises(error) as refused:
        steps.plan(running_job(), request_, now=1.0)

    assert message in str(refused.value)


def test_a_job_has_at_most_max_steps_per_run() -> None:
    job = running_job(steps_run=steps.MAX_STEPS)

    with pytest.raises(ResourceExhausted, match="STEP_LIMIT: job 7 has had 40000 steps"):
        steps.plan(job, step(), now=1.0)
    job.attempt = 2     # a requeued job counts its steps again from 0, as in Slurm
    assert steps.plan(job, step(launch_node="n1"), now=1.0).step_id == 0


def test_a_step_that_does_not_fit_is_still_a_precondition() -> None:
    with pytest.raises(FailedPrecondition):
        steps.plan(running_job(), jobs_pb2.CreateStepRequest(job_id=7, ntasks=5), now=1.0)


@pytest.mark.parametrize("finish,message", [
    (jobs_pb2.FinishStepRequest(exit_code=256), "exit_code: 256 is not an exit status"),
    (jobs_pb2.FinishStepRequest(exit_code=-1), "exit_code: -1 is not an exit status"),
    (jobs_pb2.FinishStepRequest(signal=65), "signal: 65 is not a signal number"),
    (jobs_pb2.FinishStepRequest(cpu_seconds=float("nan")), "cpu_seconds: must be a finite"),
])
def test_a_step_report_holds_what_a_wait_status_can(finish: jobs_pb2.FinishStepRequest, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        steps.check_finish(finish)
    steps.check_finish(jobs_pb2.FinishStepRequest(exit_code=255, signal=64, cpu_seconds=1e9))
